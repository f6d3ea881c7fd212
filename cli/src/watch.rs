//! `plasma watch`: seal and delete notifications as they happen, and every
//! interval a line of rates.
//!
//! Subscribing makes the store replay every sealed object first (Plasma's
//! semantics); unless `--backlog`, those replays are skipped by listing
//! the sealed objects just before subscribing (a replay is a seal of an id
//! listed, not deleted since).

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use plasma_client::{Notification, ObjectId, SubscribeError};
use serde::Serialize;

use crate::format::{bytes, count};
use crate::{say, Context, Failure, Outcome};

/// Options of `plasma watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Seconds between rate lines.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0,
          value_parser = positive_seconds)]
    pub interval: f64,
    /// Stop after this many notifications.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long = "for", value_name = "SECONDS", value_parser = positive_seconds)]
    pub duration: Option<f64>,
    /// Also show the objects sealed before the watch began (the store
    /// replays them first).
    #[arg(long)]
    pub backlog: bool,
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => Ok(s),
        _ => Err(format!("'{text}' is not a positive number of seconds")),
    }
}

/// One line of `--json` output.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Event {
    Sealed {
        id: String,
        data_size: u64,
        metadata_size: u64,
        seconds: f64,
    },
    Deleted {
        id: String,
        seconds: f64,
    },
    Rate {
        seconds: f64,
        seals_per_second: f64,
        sealed_bytes_per_second: f64,
        deletions_per_second: f64,
    },
}

/// Counts since the last rate line.
#[derive(Default)]
struct Window {
    seals: u64,
    sealed_bytes: u64,
    deletions: u64,
}

fn emit(json: bool, event: &Event) -> Result<(), Failure> {
    if json {
        let line = serde_json::to_string(event).map_err(|e| format!("writing JSON: {e}"))?;
        say!("{line}");
        return Ok(());
    }
    match event {
        Event::Sealed {
            id,
            data_size,
            metadata_size,
            seconds,
        } => say!(
            "{seconds:>9.3}s  sealed   {id}  {} + {} metadata",
            bytes(*data_size),
            bytes(*metadata_size)
        ),
        Event::Deleted { id, seconds } => say!("{seconds:>9.3}s  deleted  {id}"),
        Event::Rate {
            seconds,
            seals_per_second,
            sealed_bytes_per_second,
            deletions_per_second,
        } => say!(
            "{seconds:>9.3}s  -- {seals_per_second:.1} seals/s ({}/s), {deletions_per_second:.1} deletions/s",
            bytes(*sealed_bytes_per_second as u64)
        ),
    }
    Ok(())
}

pub fn run(ctx: &Context, args: &WatchArgs) -> Outcome {
    let mut replayed: HashSet<ObjectId> = HashSet::new();
    if !args.backlog {
        let listed = ctx
            .client
            .list()
            .map_err(|e| format!("listing objects: {e}"))?;
        replayed.extend(
            listed
                .iter()
                .filter(|o| o.digest.is_some())
                .map(|o| o.object_id),
        );
    }
    let mut sub = ctx
        .client
        .subscribe()
        .map_err(|e| format!("subscribing to notifications: {e}"))?;
    let start = Instant::now();
    let interval = Duration::from_secs_f64(args.interval);
    let end = args.duration.map(|s| start + Duration::from_secs_f64(s));
    let mut next_rate = start + interval;
    let mut window = Window::default();
    let mut seen = 0u64;
    loop {
        if args.count.is_some_and(|n| seen >= n) || end.is_some_and(|e| Instant::now() >= e) {
            return Ok(ExitCode::SUCCESS);
        }
        let now = Instant::now();
        if now >= next_rate {
            let secs = interval.as_secs_f64();
            emit(
                ctx.json,
                &Event::Rate {
                    seconds: now.duration_since(start).as_secs_f64(),
                    seals_per_second: window.seals as f64 / secs,
                    sealed_bytes_per_second: window.sealed_bytes as f64 / secs,
                    deletions_per_second: window.deletions as f64 / secs,
                },
            )?;
            window = Window::default();
            next_rate += interval;
            continue;
        }
        let wake = end.map_or(next_rate, |e| e.min(next_rate));
        let n = match sub.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(Some(n)) => n,
            Ok(None) => continue,
            Err(SubscribeError::Disconnected) => {
                return Err(format!(
                "the store closed the notification channel after {} notifications (it stopped?)",
                count(seen)
            )
                .into())
            }
            Err(e) => return Err(format!("reading notifications: {e}").into()),
        };
        if let Some(event) = event_of(&n, &mut replayed, start.elapsed().as_secs_f64()) {
            match &event {
                Event::Sealed {
                    data_size,
                    metadata_size,
                    ..
                } => {
                    window.seals += 1;
                    window.sealed_bytes += data_size + metadata_size;
                }
                _ => window.deletions += 1,
            }
            seen += 1;
            emit(ctx.json, &event)?;
        }
    }
}

/// The event to show for `n`, or `None` for a replay of an object sealed
/// before the watch began.
fn event_of(n: &Notification, replayed: &mut HashSet<ObjectId>, seconds: f64) -> Option<Event> {
    let id = n.id.to_string();
    if n.deleted {
        replayed.remove(&n.id);
        return Some(Event::Deleted { id, seconds });
    }
    if replayed.remove(&n.id) {
        return None;
    }
    Some(Event::Sealed {
        id,
        data_size: n.data_size,
        metadata_size: n.metadata_size,
        seconds,
    })
}
