//! The loop's side of spilling: the core's disk work goes to the spill
//! workers ([`crate::disk`]), their reports come back (waking the loop) and
//! go to the core; deferred clients are resumed; the core's notices are
//! logged. The loop itself never touches a spill file.

use std::sync::Arc;
use std::time::Instant;

use super::event_loop::EventLoop;
use super::peer_log::PeerLog;
use crate::arena::ArenaIo;
use crate::core::{ClientId, DiskOp, Effect, Notice, Outcome, RestoreError};
use crate::disk::{Done, SpillDir, Workers};

/// The spill directory and its workers.
#[derive(Debug)]
pub(super) struct DiskSide {
    dir: Arc<SpillDir>,
    workers: Workers,
    /// Bounds the lines a failing disk causes.
    log: PeerLog,
}

impl DiskSide {
    /// Starts the workers over `dir` and `arena`; each report calls `wake`.
    pub(super) fn start(
        dir: Arc<SpillDir>,
        arena: &ArenaIo,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<DiskSide> {
        let workers = Workers::start(&dir, arena, wake)?;
        Ok(DiskSide {
            dir,
            workers,
            log: PeerLog::about("spill file failures"),
        })
    }
}

impl EventLoop {
    /// Hands the core's disk work to the workers.
    pub(super) fn submit_disk(&mut self, op: DiskOp) {
        match &self.disk {
            Some(disk) => disk.workers.submit(op),
            None => tracing::error!(?op, "disk work asked for without a spill directory"),
        }
    }

    /// Passes the workers' reports to the core and performs the outcomes.
    pub(super) fn take_disk_reports(&mut self) {
        let reports: Vec<Done> = match &self.disk {
            Some(disk) => disk.workers.finished().collect(),
            None => return,
        };
        for done in reports {
            let mut out = Outcome::default();
            let detail = match done {
                Done::Written { file, result } => {
                    let (result, detail) = match result {
                        Ok(crc) => (Ok(crc), None),
                        Err(f) => (Err(f.kind), Some(f.detail)),
                    };
                    self.store.spill_done(file, result, &mut out);
                    detail
                }
                Done::Read { file, result } => {
                    let (result, detail) = match result {
                        Ok(()) => (Ok(()), None),
                        Err(f) => (Err(f.kind), Some(f.detail)),
                    };
                    self.store.restore_done(file, result, &mut out);
                    detail
                }
            };
            for effect in &out.effects {
                if let Effect::Notice(n) = effect {
                    self.log_notice(n, detail.as_deref());
                }
            }
            out.effects.retain(|e| !matches!(e, Effect::Notice(_)));
            self.perform(out);
        }
        self.drop_doomed();
    }

    /// `client`'s deferred request may be handed in again.
    pub(super) fn resume(&mut self, client: ClientId) {
        if let Some(conn) = self.conns.get_mut(&client) {
            conn.deferred = false;
            self.ready.insert(client);
        }
    }

    /// Logs a notice of the core, with the OS's word on it if known.
    pub(super) fn log_notice(&mut self, notice: &Notice, detail: Option<&str>) {
        let detail = detail.unwrap_or("see above");
        let dir = self
            .disk
            .as_ref()
            .map(|d| d.dir.path().display().to_string())
            .unwrap_or_default();
        match notice {
            // Once per episode: not bounded further.
            Notice::SpillDiskFull { id, limit } => {
                let full = match limit {
                    Some(limit) => format!("its --spill-max of {limit} bytes is reached"),
                    None => "its filesystem is full".to_owned(),
                };
                tracing::warn!(
                    object = %id,
                    "spill directory {dir}: {full}; objects pushed out of memory are dropped \
                     instead of spilled (deletion notifications), without a line each, until a \
                     spill succeeds again"
                );
            }
            Notice::SpillFailed { id, file, dropped } => {
                if self.disk_log_admits() {
                    let fate = if *dropped {
                        "the object is dropped"
                    } else {
                        "the object is held and stays in memory"
                    };
                    tracing::warn!(object = %id, %file, "spilling to {dir} failed ({detail}): {fate}");
                }
            }
            Notice::RestoreFailed { id, file, error } => {
                if self.disk_log_admits() {
                    let why = match error {
                        RestoreError::Missing => "the file is gone",
                        RestoreError::Corrupt => "the file is not what was written",
                        _ => "reading failed",
                    };
                    tracing::warn!(
                        object = %id,
                        %file,
                        "restoring from {dir} failed, {why} ({detail}): the object is lost; \
                         its requests get \"not found\", subscribers a deletion"
                    );
                }
            }
        }
    }

    fn disk_log_admits(&mut self) -> bool {
        let now = Instant::now();
        self.disk.as_mut().is_none_or(|d| d.log.admit(now))
    }

    /// Reports the disk lines suppressed, once their window is over.
    pub(super) fn tick_disk_log(&mut self, now: Instant) {
        if let Some(d) = self.disk.as_mut() {
            d.log.tick(now);
        }
    }

    /// When the loop must wake up to report suppressed disk lines.
    pub(super) fn disk_log_report_at(&self) -> Option<Instant> {
        self.disk.as_ref().and_then(|d| d.log.report_at())
    }

    /// Stops the workers (work under way is cut short) and removes every
    /// spill file: objects do not survive the store.
    pub(super) fn stop_disk(&mut self) {
        if let Some(DiskSide { dir, workers, .. }) = self.disk.take() {
            drop(workers);
            match dir.clear() {
                Ok(n) => tracing::debug!(files = n, "spill directory emptied"),
                Err(e) => tracing::warn!("emptying the spill directory failed: {e}"),
            }
        }
    }
}
