//! The plasma-store daemon as a library.
