//! Clients for plasma-store.
