//! The store serves its own user (and root) only, unless told to accept
//! others with `--allow-uid`: the peer's credentials are checked on accept,
//! whatever the socket file's permissions say.
//!
//! Needs root (to run a client as another user); skipped otherwise.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use plasma_e2e::{bin_path, run_bounded, TestStore};
use plasma_protocol::ObjectId;

const NOBODY: u32 = 65534;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Opens the way to the socket for everyone, so only the store's own check
/// stands between another user and the store.
fn open_up(store: &TestStore) {
    std::fs::set_permissions(store.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(store.socket(), std::fs::Permissions::from_mode(0o777)).unwrap();
}

/// Runs `e2e-client put` against `store` as uid/gid `NOBODY`.
fn put_as_nobody(store: &TestStore) -> (bool, String) {
    let args: Vec<OsString> = vec![
        "put".into(),
        store.socket().into(),
        ObjectId::random().to_string().into(),
        "100".into(),
        "1".into(),
    ];
    let out = run_bounded(
        Command::new(bin_path("e2e-client"))
            .args(&args)
            .uid(NOBODY)
            .gid(NOBODY),
        Duration::from_secs(30),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.contains("sealed"), text)
}

#[test]
fn other_users_are_refused_even_when_the_socket_is_world_writable() {
    if !is_root() {
        eprintln!("skipped: needs root to run a client as another user");
        return;
    }
    let mut store = TestStore::start();
    open_up(&store);
    let (ok, output) = put_as_nobody(&store);
    assert!(!ok, "uid {NOBODY} was served: {output}");
    store.assert_running();
    assert!(store.client().list().unwrap().is_empty());
}

#[test]
fn allowed_uid_is_served() {
    if !is_root() {
        eprintln!("skipped: needs root to run a client as another user");
        return;
    }
    let store = TestStore::builder()
        .arg("--allow-uid")
        .arg(NOBODY.to_string())
        .start();
    open_up(&store);
    let (ok, output) = put_as_nobody(&store);
    assert!(
        ok,
        "uid {NOBODY} was refused despite --allow-uid: {output}\n{}",
        store.stderr_report()
    );
    assert_eq!(store.client().list().unwrap().len(), 1);
}
