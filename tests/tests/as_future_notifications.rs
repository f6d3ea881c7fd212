//! The cases of `as_future.rs`, with the `AsyncClient` told not to use our
//! store's Await addition: futures are resolved by seal notifications and
//! timeout-0 Gets, exactly as against Arrow Plasma 11 (see also
//! `plasma11_as_future.rs`, against the real one).

/// Whether the clients of these cases may use our protocol additions.
const STORE_EXTENSIONS: bool = false;

#[path = "as_future/cases.rs"]
mod cases;
