//! `plasma_store._native`: the Rust half of the Python package
//! `plasma_store` (python/plasma_store/), a thin pyo3 layer over the Rust
//! client. Protocol, holds, waiting and errors are decided here or in the
//! client; the Python half holds pyarrow.plasma's names, the value format
//! and the asyncio glue.
//!
//! `unsafe` code: the buffer protocol (`buffer.rs`) and the fork guard's
//! drop (`fork.rs`).

mod buffer;
mod client;
mod daemon;
mod errors;
mod fork;
mod id;
mod watch;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<id::PyObjectId>()?;
    m.add_class::<buffer::PlasmaBuffer>()?;
    m.add_class::<client::NativeClient>()?;
    m.add_class::<watch::NativeWatcher>()?;
    m.add_function(wrap_pyfunction!(client::decode_notifications, m)?)?;
    m.add_function(wrap_pyfunction!(daemon::run_store, m)?)?;
    Ok(())
}
