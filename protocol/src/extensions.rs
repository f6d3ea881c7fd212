//! How a store announces our protocol additions: lines at the end of its
//! GetDebugString text (which every Plasma 11 store answers and nothing
//! parses), `plasma-store extensions: NAME...`. A client collects the
//! names from every such line and sends a message of an addition only to a
//! store that names it (the real store aborts on a type it does not know).
//!
//! The first line is always exactly [`EXTENSIONS_MARKER`] (`await`), the
//! line clients written before later additions look for; later additions
//! are named on a line of their own after it.
//!
//! ```
//! use plasma_protocol::extensions::{announces, STATS};
//! let text = "allocated bytes: 0\nplasma-store extensions: await\nplasma-store extensions: stats";
//! assert!(announces(text, STATS));
//! assert!(!announces("allocated bytes: 0", STATS));
//! ```

use crate::EXTENSIONS_MARKER;

/// What every announcement line starts with.
pub const PREFIX: &str = "plasma-store extensions:";

/// Await, ObjectReady, Unawait (types 64–67).
pub const AWAIT: &str = "await";

/// StatsRequest, StatsReply (types 68, 69).
pub const STATS: &str = "stats";

/// AttachRequest/Reply, PutRequest/Reply, HoldsChanged (types 70–74): gets
/// from the shared directory and one-round-trip puts (docs/design.md,
/// "Fewer hand-overs"). A store announces it on a line of its own, only
/// when it has a directory.
pub const DIRECT: &str = "direct";

/// The line announcing [`DIRECT`].
pub const DIRECT_LINE: &str = "plasma-store extensions: direct";

/// The lines this crate's store appends to its debug text, in order.
pub const LINES: [&str; 2] = [EXTENSIONS_MARKER, "plasma-store extensions: stats"];

/// Every addition named in `debug_text`.
pub fn announced(debug_text: &str) -> impl Iterator<Item = &str> {
    debug_text
        .lines()
        .filter_map(|line| line.strip_prefix(PREFIX))
        .flat_map(str::split_whitespace)
}

/// Whether `debug_text` announces the addition `name`.
pub fn announces(debug_text: &str, name: &str) -> bool {
    announced(debug_text).any(|n| n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_lines_announce_both_additions_and_keep_the_old_marker() {
        let text = format!("allocated bytes: 0\n{}", LINES.join("\n"));
        assert!(announces(&text, AWAIT));
        assert!(announces(&text, STATS));
        // What clients written before `stats` check.
        assert!(text.lines().any(|l| l == EXTENSIONS_MARKER));
    }

    #[test]
    fn several_names_on_one_line_are_all_read() {
        let text = "x\nplasma-store extensions: await stats later";
        let names: Vec<_> = announced(text).collect();
        assert_eq!(names, ["await", "stats", "later"]);
    }

    #[test]
    fn plasma_11_text_announces_nothing() {
        let text = "num clients with quota: 0\n(global lru) capacity: 100";
        assert_eq!(announced(text).count(), 0);
        assert!(!announces("stats", STATS));
    }
}
