//! The tokio `AsyncClient` and `as_future`: an object id awaited like any
//! other future, resolved with the sealed object's zero-copy buffer,
//! whoever seals it and whenever. Here the client uses our store's Await
//! addition (the store pushes each awaited object the moment it is
//! sealed); `as_future_notifications.rs` runs the same cases through seal
//! notifications, the path every Arrow Plasma 11 store gets.

/// Whether the clients of these cases may use our protocol additions.
const STORE_EXTENSIONS: bool = true;

#[path = "as_future/cases.rs"]
mod cases;
