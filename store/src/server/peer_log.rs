//! A bound on the log lines peers can cause.
//!
//! Every misbehaving or refused peer is worth one warning, but a hostile
//! client can open connections and misbehave as fast as the store can
//! accept them. So lines about peers go through one window: at most
//! [`LINES_PER_WINDOW`] per [`WINDOW`]; the rest are counted, and one line
//! says how many were suppressed once the window is over.

use std::time::{Duration, Instant};

/// Length of a window.
pub(super) const WINDOW: Duration = Duration::from_secs(10);
/// Lines about peers written per window.
pub(super) const LINES_PER_WINDOW: u32 = 20;

/// The window's state.
#[derive(Debug, Default)]
pub(super) struct PeerLog {
    window_start: Option<Instant>,
    written: u32,
    suppressed: u64,
}

impl PeerLog {
    /// Whether a line about a peer may be written at `now`; if not, it is
    /// counted as suppressed.
    pub(super) fn admit(&mut self, now: Instant) -> bool {
        match self.window_start {
            Some(start) if now < start + WINDOW => {}
            _ => {
                self.report_suppressed();
                self.window_start = Some(now);
                self.written = 0;
            }
        }
        if self.written < LINES_PER_WINDOW {
            self.written += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }

    /// When the loop must wake up to report suppressed lines.
    pub(super) fn report_at(&self) -> Option<Instant> {
        (self.suppressed > 0)
            .then_some(self.window_start)
            .flatten()
            .map(|t| t + WINDOW)
    }

    /// Reports the suppressed count if the window is over (called once per
    /// loop turn).
    pub(super) fn tick(&mut self, now: Instant) {
        if self.report_at().is_some_and(|t| now >= t) {
            self.report_suppressed();
            self.window_start = None;
        }
    }

    fn report_suppressed(&mut self) {
        let n = std::mem::take(&mut self.suppressed);
        if n > 0 {
            tracing::warn!(
                "{n} more lines about misbehaving or refused clients suppressed in {} s",
                WINDOW.as_secs()
            );
        }
    }

    /// Lines suppressed in the current window.
    #[cfg(test)]
    pub(super) fn suppressed(&self) -> u64 {
        self.suppressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_writes_a_bounded_number_of_lines() {
        let mut log = PeerLog::default();
        let t0 = Instant::now();
        let written = (0..1000).filter(|_| log.admit(t0)).count();
        assert_eq!(written, LINES_PER_WINDOW as usize);
        assert_eq!(log.suppressed(), 1000 - u64::from(LINES_PER_WINDOW));
        assert_eq!(log.report_at(), Some(t0 + WINDOW));
        log.tick(t0 + WINDOW);
        assert_eq!(log.suppressed(), 0);
        assert_eq!(log.report_at(), None);
        assert!(log.admit(t0 + WINDOW));
    }
}
