//! Everything a run needs besides this binary: the pyarrow 11 venv (the
//! real `plasma-store-server`, pyarrow's Python client and libplasma with
//! its headers, installed by `scripts/pyenv.sh`), our Python package
//! (built by `scripts/python-env.sh`, put on that venv's PYTHONPATH), and
//! the two C++ programs, compiled here with g++ into the output directory.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{io, BenchError, Result};

/// The C++ client linked to libplasma (Plasma's own client library).
const CPP_CLIENT: &str = include_str!("../cpp/bench_client.cc");
/// The physical anchors (no Plasma code).
const CPP_ANCHORS: &str = include_str!("../cpp/anchors.cc");
/// The pyarrow client script.
const PY_CLIENT: &str = include_str!("../python/bench_client.py");

/// What the workloads run.
#[derive(Clone, Debug)]
pub struct Env {
    /// Our daemon: program and leading arguments (`-s`, `-m` follow).
    pub ours: Vec<OsString>,
    /// Arrow Plasma 11's `plasma-store-server`.
    pub plasma_server: PathBuf,
    /// The venv's python, with pyarrow 11.
    pub python: PathBuf,
    /// The Python client script (pyarrow's client, or ours).
    pub py_client: PathBuf,
    /// A directory holding our package `plasma_store` alone (for
    /// PYTHONPATH; the wheel is abi3, so the pyarrow venv loads it).
    pub py_package: PathBuf,
    /// The compiled C++ Plasma client.
    pub cpp_client: PathBuf,
    /// The compiled anchors program.
    pub anchors: PathBuf,
    /// Where the daemons' logs go.
    pub logs: PathBuf,
}

/// How to find or make each piece.
#[derive(Clone, Debug, Default)]
pub struct SetupOptions {
    /// Run this daemon binary instead of the store built into this binary.
    pub store_bin: Option<PathBuf>,
    /// Use this python (with pyarrow 11) instead of running `scripts/pyenv.sh`.
    pub python: Option<PathBuf>,
}

/// The repository this binary was built from.
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Installs (once) and compiles what is missing; `out` receives the build.
pub fn prepare(out: &Path, options: &SetupOptions) -> Result<Env> {
    let build = out.join("build");
    let logs = out.join("logs");
    for dir in [&build, &logs] {
        fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
    }
    let ours = match &options.store_bin {
        Some(bin) => vec![bin.clone().into_os_string()],
        None => {
            let me = std::env::current_exe().map_err(io("locate this executable"))?;
            vec![me.into_os_string(), OsString::from("store")]
        }
    };
    let python = match &options.python {
        Some(p) => p.clone(),
        None => venv_script("scripts/pyenv.sh", "the pyarrow 11 venv")?,
    };
    venv_script("scripts/python-env.sh", "our Python package")?;
    let py_package = repo_root().join(".venv-python/for-pyarrow");
    let pyarrow = pyarrow_dir(&python)?;
    let plasma_server = pyarrow.join("plasma-store-server");
    for need in [
        plasma_server.clone(),
        pyarrow.join("libplasma.so.1100"),
        pyarrow.join("include/plasma/client.h"),
    ] {
        if !need.exists() {
            return Err(BenchError::Setup(format!(
                "{} is missing: the venv does not hold pyarrow 11's Plasma",
                need.display()
            )));
        }
    }
    let py_client = build.join("bench_client.py");
    write(&py_client, PY_CLIENT)?;
    let cpp_client = compile(&build, "bench_client", CPP_CLIENT, Some(&pyarrow))?;
    let anchors = compile(&build, "anchors", CPP_ANCHORS, None)?;
    Ok(Env {
        ours,
        plasma_server,
        python,
        py_client,
        py_package,
        cpp_client,
        anchors,
        logs,
    })
}

/// Runs a venv script of the repository (which installs on first use) and
/// returns the python path it prints last.
fn venv_script(path: &str, what: &str) -> Result<PathBuf> {
    let script = repo_root().join(path);
    eprintln!("plasma-bench: preparing {what} ({})", script.display());
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .map_err(io(format!("run {}", script.display())))?;
    if !out.status.success() {
        return Err(BenchError::Setup(format!(
            "{} failed ({})",
            script.display(),
            out.status
        )));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default().trim();
    let python = PathBuf::from(last);
    if !python.is_file() {
        return Err(BenchError::Setup(format!(
            "{} printed {last:?}, not a python path",
            script.display()
        )));
    }
    Ok(python)
}

fn pyarrow_dir(python: &Path) -> Result<PathBuf> {
    let out = Command::new(python)
        .args([
            "-c",
            "import os, pyarrow; print(os.path.dirname(pyarrow.__file__))",
        ])
        .output()
        .map_err(io(format!("run {}", python.display())))?;
    if !out.status.success() {
        return Err(BenchError::Setup(format!(
            "{} cannot import pyarrow: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn write(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).map_err(io(format!("write {}", path.display())))
}

/// Compiles one C++ program; with `pyarrow`, against its libplasma (built
/// with the old C++ string ABI, hence the define).
fn compile(build: &Path, name: &str, source: &str, pyarrow: Option<&Path>) -> Result<PathBuf> {
    let src = build.join(format!("{name}.cc"));
    let exe = build.join(name);
    write(&src, source)?;
    let mut cmd = Command::new("g++");
    cmd.args(["-O2", "-std=c++17", "-o"]).arg(&exe).arg(&src);
    if let Some(pa) = pyarrow {
        cmd.arg("-D_GLIBCXX_USE_CXX11_ABI=0")
            .arg(format!("-I{}", pa.join("include").display()))
            .arg(pa.join("libplasma.so.1100"))
            .arg(pa.join("libarrow.so.1100"))
            .arg(format!("-Wl,-rpath,{}", pa.display()));
    }
    let out = cmd.output().map_err(|e| {
        BenchError::Setup(format!(
            "cannot run g++ ({e}); a C++17 compiler is needed for the C++ clients"
        ))
    })?;
    if !out.status.success() {
        return Err(BenchError::Setup(format!(
            "g++ failed on {}:\n{}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(exe)
}
