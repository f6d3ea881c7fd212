//! `plasma list`: the objects, filtered by state, sorted, limited.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, ValueEnum};
use plasma_client::ObjectInfo;
use serde::Serialize;

use crate::format::{bytes, count, hex, seconds};
use crate::stats::size_of;
use crate::{say, Context, Outcome};

/// Options of `plasma list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Order: by size (largest first), age (oldest first) or holders (most
    /// first); the store's own order if not given.
    #[arg(long, value_enum)]
    pub sort: Option<SortKey>,
    /// Only objects in this state (sealed = held + evictable).
    #[arg(long, value_enum)]
    pub state: Option<StateFilter>,
    /// Show at most this many objects (after sorting).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

/// How to sort.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SortKey {
    /// Data + metadata bytes, largest first.
    Size,
    /// Creation time, oldest first.
    Age,
    /// Number of clients holding it, most first.
    Holders,
}

/// Which objects to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StateFilter {
    /// Not sealed yet.
    Created,
    /// Sealed (held or not).
    Sealed,
    /// Sealed, held by some client.
    Held,
    /// Sealed, held by nobody: the store may evict it.
    Evictable,
}

/// An object's state as `list` names it.
fn state_of(o: &ObjectInfo) -> &'static str {
    match (o.digest.is_some(), o.ref_count > 0) {
        (false, _) => "created",
        (true, true) => "held",
        (true, false) => "evictable",
    }
}

fn matches(filter: StateFilter, o: &ObjectInfo) -> bool {
    let state = state_of(o);
    match filter {
        StateFilter::Created => state == "created",
        StateFilter::Sealed => state != "created",
        StateFilter::Held => state == "held",
        StateFilter::Evictable => state == "evictable",
    }
}

/// One listed object, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Row {
    id: String,
    state: &'static str,
    data_size: i64,
    metadata_size: i64,
    size: u64,
    holders: i32,
    create_time: i64,
    age_seconds: u64,
    /// Seconds from create to seal; `null` while unsealed.
    construct_seconds: Option<i64>,
    /// The seal digest, hex; `null` while unsealed.
    digest: Option<String>,
}

/// The objects `args` selects, in the order it asks for.
fn select(mut objects: Vec<ObjectInfo>, args: &ListArgs) -> (Vec<ObjectInfo>, usize) {
    if let Some(filter) = args.state {
        objects.retain(|o| matches(filter, o));
    }
    match args.sort {
        Some(SortKey::Size) => objects.sort_by_key(|o| std::cmp::Reverse(size_of(o))),
        Some(SortKey::Age) => objects.sort_by_key(|o| o.create_time),
        Some(SortKey::Holders) => objects.sort_by_key(|o| std::cmp::Reverse(o.ref_count)),
        None => {}
    }
    let total = objects.len();
    if let Some(limit) = args.limit {
        objects.truncate(limit);
    }
    (objects, total)
}

pub fn run(ctx: &Context, args: &ListArgs) -> Outcome {
    let objects = ctx
        .client
        .list()
        .map_err(|e| format!("listing objects: {e}"))?;
    let (shown, total) = select(objects, args);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let age = |o: &ObjectInfo| now.saturating_sub(u64::try_from(o.create_time).unwrap_or(0));
    if ctx.json {
        let rows: Vec<Row> = shown
            .iter()
            .map(|o| Row {
                id: o.object_id.to_string(),
                state: state_of(o),
                data_size: o.data_size,
                metadata_size: o.metadata_size,
                size: size_of(o),
                holders: o.ref_count,
                create_time: o.create_time,
                age_seconds: age(o),
                construct_seconds: o.digest.map(|_| o.construct_duration),
                digest: o.digest.map(|d| hex(&d)),
            })
            .collect();
        Context::print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "{:<40}  {:<9}  {:>10}  {:>10}  {:>7}  {:>6}",
        "OBJECT ID",
        "STATE",
        "DATA",
        "METADATA",
        "HOLDERS",
        "AGE"
    );
    for o in &shown {
        say!(
            "{:<40}  {:<9}  {:>10}  {:>10}  {:>7}  {:>6}",
            o.object_id.to_string(),
            state_of(o),
            bytes(u64::try_from(o.data_size).unwrap_or(0)),
            bytes(u64::try_from(o.metadata_size).unwrap_or(0)),
            o.ref_count,
            seconds(age(o)),
        );
    }
    if shown.len() < total {
        say!(
            "({} more; {} objects match)",
            count((total - shown.len()) as u64),
            count(total as u64)
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use plasma_client::ObjectId;

    fn obj(n: u8, size: i64, holders: i32, created: i64, sealed: bool) -> ObjectInfo {
        ObjectInfo {
            object_id: ObjectId::from_bytes([n; 20]),
            data_size: size,
            ref_count: holders,
            create_time: created,
            digest: sealed.then_some([0; 8]),
            ..ObjectInfo::default()
        }
    }

    fn ids(v: &[ObjectInfo]) -> Vec<u8> {
        v.iter().map(|o| o.object_id.as_bytes()[0]).collect()
    }

    #[test]
    fn filters_sort_and_limit_compose() {
        let all = vec![
            obj(1, 10, 0, 30, true),
            obj(2, 30, 2, 10, true),
            obj(3, 20, 1, 20, false),
            obj(4, 40, 0, 5, true),
        ];
        let args = |sort, state, limit| ListArgs { sort, state, limit };
        let (v, n) = select(all.clone(), &args(Some(SortKey::Size), None, Some(2)));
        assert_eq!((ids(&v), n), (vec![4, 2], 4));
        let (v, _) = select(
            all.clone(),
            &args(Some(SortKey::Age), Some(StateFilter::Sealed), None),
        );
        assert_eq!(ids(&v), vec![4, 2, 1]);
        let (v, _) = select(all.clone(), &args(Some(SortKey::Holders), None, None));
        assert_eq!(ids(&v)[..2], [2, 3]);
        let (v, _) = select(all.clone(), &args(None, Some(StateFilter::Evictable), None));
        assert_eq!(ids(&v), vec![1, 4]);
        let (v, _) = select(all, &args(None, Some(StateFilter::Created), None));
        assert_eq!(ids(&v), vec![3]);
    }
}
