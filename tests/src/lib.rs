//! The shared fixture of the end-to-end tests.
