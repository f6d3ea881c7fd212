//! Our `direct` capability, the store's half (docs/design.md, "Fewer
//! hand-overs"): the directory of sealed objects it publishes, the hold
//! tables of attached connections, and how holds found there keep objects
//! from being freed.
//!
//! The core owns both kinds of segment only as words
//! ([`SharedWords`]): the daemon hands it its mappings, tests hand it plain
//! arrays. Nothing here maps memory, and nothing read from a hold table is
//! used without a bounds check.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the state, publishing, attaching, reading release logs |
//! | `pins.rs` | retire–fence–scan before a free, pinned objects, re-checks |
//! | `put.rs` | PutRequest: create-and-seal plus a hold through a slot |

mod pins;
mod put;

pub(super) use put::PutObject;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;

use plasma_protocol::direct::{
    unpack_hold, DirectoryGeometry, DirectoryWriter, HoldRecord, HoldTable, HoldsGeometry,
    LayoutError, Published,
};
use plasma_protocol::{ErrorCode, Reply};

use super::table::{ListTag, State};
use super::{ClientId, Effect, Outcome, Store, Violation};

/// Segment id (as in `store_fd`) of the directory in fd lists.
pub const DIRECTORY_SEGMENT: i32 = 2;
/// Segment id of the receiving connection's own hold table in fd lists.
pub const HOLDS_SEGMENT: i32 = 3;

/// Shared memory the core reads and writes word by word: the directory and
/// the hold tables. Implementations only hand out the words; every access
/// is atomic.
pub trait SharedWords: Send {
    /// The segment's words.
    fn words(&self) -> &[AtomicU64];
}

/// Zeroed words in this process's heap, for tests and benchmarks. Clones
/// share the words (a test plays the client on a clone).
#[derive(Clone, Debug)]
pub struct HeapWords(std::sync::Arc<[AtomicU64]>);

impl HeapWords {
    /// `n` zero words.
    pub fn new(n: usize) -> Self {
        Self((0..n).map(|_| AtomicU64::new(0)).collect())
    }
}

impl SharedWords for HeapWords {
    fn words(&self) -> &[AtomicU64] {
        &self.0
    }
}

/// One attached connection's hold table.
struct Table {
    words: Box<dyn SharedWords>,
    /// Records read from its log, ever: the store's own count, never read
    /// back from the segment (sharing contract, rule 8).
    tail: u64,
    /// The Attach that made it has been answered (a second one is a
    /// violation).
    announced: bool,
    /// The store's time when it last read the log: a record read now was
    /// written after that (or just before, and is placed at that time).
    drained_ns: u64,
}

impl Table {
    fn view(&self) -> Option<HoldTable<'_>> {
        HoldTable::open(self.words.words()).ok()
    }
}

/// The `direct` state of a store.
#[derive(Default)]
pub(super) struct Direct {
    directory: Option<Box<dyn SharedWords>>,
    geometry: Option<DirectoryGeometry>,
    tables: HashMap<ClientId, Table>,
    /// Objects a scan found held through a slot: not freed, kept out of
    /// every list and unpublished until no slot names them.
    pinned: HashSet<u32>,
    /// Records read from logs, with their connection, before they are
    /// applied in release-time order.
    records: Vec<(HoldRecord, ClientId)>,
}

impl Direct {
    fn writer(&self) -> Option<DirectoryWriter<'_>> {
        let geo = self.geometry?;
        DirectoryWriter::with_geometry(self.directory.as_ref()?.words(), geo)
    }

    /// Whether `slot` is pinned.
    pub(super) fn is_pinned(&self, slot: u32) -> bool {
        !self.pinned.is_empty() && self.pinned.contains(&slot)
    }

    /// Number of pinned objects.
    pub(super) fn pinned_count(&self) -> usize {
        self.pinned.len()
    }
}

impl Store {
    /// Offers the `direct` capability with `words` as the directory
    /// (`entries` entries; see [`DirectoryGeometry`]). The words must be
    /// zeroed and at least `DirectoryGeometry::for_entries(entries).words()`
    /// long.
    pub fn set_directory(
        &mut self,
        words: Box<dyn SharedWords>,
        entries: usize,
    ) -> Result<(), LayoutError> {
        let geo = DirectoryGeometry::for_entries(entries);
        DirectoryWriter::init(words.words(), geo)?;
        self.direct.directory = Some(words);
        self.direct.geometry = Some(geo);
        Ok(())
    }

    /// Whether this store offers `direct`.
    pub fn direct_enabled(&self) -> bool {
        self.direct.geometry.is_some()
    }

    /// Whether `client` has a hold table.
    pub fn has_holds(&self, client: ClientId) -> bool {
        self.direct.tables.contains_key(&client)
    }

    /// Gives `client` the hold table `words` (zeroed, at least
    /// `HoldsGeometry::DEFAULT.words()` long), before its AttachRequest is
    /// handled. Ignored if it has one already.
    pub fn attach_holds(
        &mut self,
        client: ClientId,
        words: Box<dyn SharedWords>,
    ) -> Result<(), LayoutError> {
        if self.direct.tables.contains_key(&client) || !self.direct_enabled() {
            return Ok(());
        }
        HoldTable::init(words.words(), HoldsGeometry::DEFAULT)?;
        self.connect(client);
        self.direct.tables.insert(
            client,
            Table {
                words,
                tail: 0,
                announced: false,
                drained_ns: self.now_ns,
            },
        );
        Ok(())
    }

    /// AttachRequest: the hold table the loop made for `client` and the
    /// directory follow the reply (and the arena, if new to the client).
    pub(super) fn attach(&mut self, client: ClientId, out: &mut Outcome) -> Result<(), Violation> {
        let segment = self.config.segment_id;
        let mmap_size = self.config.mmap_size;
        let Some(table) = self.direct.tables.get_mut(&client) else {
            out.reply(
                client,
                Reply::Attach {
                    error: ErrorCode::OutOfMemory,
                    store_fd: 0,
                    mmap_size: 0,
                },
            );
            return Ok(());
        };
        if std::mem::replace(&mut table.announced, true) {
            return Err(Violation::SecondAttach);
        }
        let mut fds = self.new_segments(client, &[segment]);
        fds.extend([DIRECTORY_SEGMENT, HOLDS_SEGMENT]);
        out.effects.push(Effect::Reply {
            to: client,
            reply: Reply::Attach {
                error: ErrorCode::Ok,
                store_fd: segment,
                mmap_size,
            },
            fds,
        });
        Ok(())
    }

    /// Publishes the sealed object in `slot` (no-op without a directory,
    /// for slots past its end, or when the index has no room nearby).
    pub(super) fn publish(&mut self, slot: u32) {
        let Some(w) = self.direct.writer() else {
            return;
        };
        let e = self.table.get(slot);
        if e.state != State::Sealed {
            return;
        }
        let object = Published {
            id: e.id,
            data_offset: e.offset,
            data_size: e.data_size,
            metadata_size: e.metadata_size,
            digest: e.digest,
        };
        w.publish(slot, &object);
    }

    /// The generation `slot` is published with, if it is.
    pub(super) fn published_gen(&self, slot: u32) -> Option<u64> {
        let gen = self.direct.writer()?.gen(slot);
        (gen & 1 == 1).then_some(gen)
    }

    /// HoldsChanged: reads the sender's log, then re-checks the pinned
    /// objects it names.
    pub(super) fn holds_changed(&mut self, client: ClientId, out: &mut Outcome) {
        self.drain_log(client);
        let named = self.apply_records();
        self.recheck(Some(&named), out);
    }

    /// Before an eviction decision (and `list`): every log read and applied,
    /// every pinned object checked again.
    pub(super) fn sync_holds(&mut self, out: &mut Outcome) {
        if self.direct.tables.is_empty() && self.direct.pinned.is_empty() {
            return;
        }
        let clients: Vec<ClientId> = self.direct.tables.keys().copied().collect();
        for c in clients {
            self.drain_log(c);
        }
        self.apply_records();
        self.recheck(None, out);
    }

    /// A connection ends: its log is applied, its slots vanish, and every
    /// pinned object is checked again.
    pub(super) fn detach(&mut self, client: ClientId, out: &mut Outcome) {
        if !self.direct.tables.contains_key(&client) {
            return;
        }
        self.drain_log(client);
        self.apply_records();
        self.direct.tables.remove(&client);
        self.recheck(None, out);
    }

    /// Moves the records `client` logged since the last read into
    /// `direct.records`, each release time kept between that last read and
    /// now (a client's stamps are only its word: a lying one can at most
    /// reorder the releases of its own records, and the LRU walk that
    /// places them stays within the releases since the last read).
    fn drain_log(&mut self, client: ClientId) {
        let now = self.now_ns;
        let Some(table) = self.direct.tables.get_mut(&client) else {
            return;
        };
        let mut read = Vec::new();
        if let Ok(view) = HoldTable::open(table.words.words()) {
            view.drain(&mut table.tail, &mut read);
        }
        let since = table.drained_ns.min(now);
        table.drained_ns = now;
        self.direct.records.extend(read.into_iter().map(|mut r| {
            r.stamp_ns = r.stamp_ns.clamp(since, now);
            (r, client)
        }));
    }

    /// Applies the records read, oldest release first: an object in the
    /// global LRU takes its place there by the record's release time (if
    /// later than its own); a pinned object named by a current hold is
    /// returned, to be checked again.
    fn apply_records(&mut self) -> HashSet<u32> {
        let mut records = std::mem::take(&mut self.direct.records);
        records.sort_by_key(|(r, _)| r.stamp_ns);
        let mut named = HashSet::new();
        // Each object once, at its latest release (records are sorted).
        let mut latest: HashMap<u32, u64> = HashMap::new();
        for (r, _) in records.drain(..) {
            let Some((slot, gen32)) = unpack_hold(r.hold) else {
                continue;
            };
            let Some(key) = self.hold_key(slot) else {
                continue;
            };
            if key != gen32 {
                continue; // an older object of that entry: nothing to do
            }
            let e = self.table.get(slot);
            if self.direct.is_pinned(slot) {
                named.insert(slot);
            } else if e.list == ListTag::Global && e.released_ns < r.stamp_ns {
                latest.insert(slot, r.stamp_ns);
            }
        }
        let mut moves: Vec<(u32, u64)> = latest.into_iter().collect();
        self.global_lru.place_all(&mut self.table, &mut moves);
        self.direct.records = records; // keep the capacity
        named
    }

    /// The low 32 bits of the generation a slot names when it holds the
    /// object in `slot` now (published, or pinned since its retire), if
    /// there is such an object.
    fn hold_key(&self, slot: u32) -> Option<u32> {
        let geo = self.direct.geometry?;
        if slot as usize >= geo.entries || slot >= self.table.slot_count() {
            return None;
        }
        if self.table.get(slot).state != State::Sealed {
            return None;
        }
        let gen = self.direct.writer()?.gen(slot);
        if gen & 1 == 1 {
            Some(gen as u32)
        } else if self.direct.is_pinned(slot) {
            Some(gen.wrapping_sub(1) as u32)
        } else {
            None
        }
    }

    /// The objects `client` holds through its hold table now (a dropped
    /// client's quarantine covers them as it covers socket holds).
    pub(super) fn slot_held_by(&self, client: ClientId) -> Vec<u32> {
        let mut held = Vec::new();
        if let Some(view) = self.direct.tables.get(&client).and_then(Table::view) {
            view.scan(|v| {
                if let Some((slot, gen32)) = unpack_hold(v) {
                    if self.hold_key(slot) == Some(gen32) {
                        held.push(slot);
                    }
                }
            });
        }
        held
    }

    /// The sealed objects nobody holds through a socket that some
    /// hold-table slot holds (what Stats adds to its held objects).
    pub(super) fn slot_held_only(&self) -> plasma_protocol::Tally {
        let mut t = plasma_protocol::Tally::default();
        if self.direct.tables.is_empty() {
            return t;
        }
        for slot in self.slot_holders().into_keys() {
            let e = self.table.get(slot);
            if e.ref_count == 0 {
                t.objects += 1;
                t.bytes = t.bytes.saturating_add(e.size());
            }
        }
        t
    }

    /// Distinct connections holding each object through a slot but not
    /// through the socket (what `list` adds to `ref_count`).
    pub(super) fn slot_holders(&self) -> HashMap<u32, u32> {
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for (&client, table) in &self.direct.tables {
            let Some(view) = table.view() else { continue };
            let socket_held = self.clients.get(&client).map(|c| &c.held);
            let mut mine = HashSet::new();
            view.scan(|v| {
                if let Some((slot, gen32)) = unpack_hold(v) {
                    if self.hold_key(slot) == Some(gen32)
                        && !socket_held.is_some_and(|h| h.contains(&slot))
                    {
                        mine.insert(slot);
                    }
                }
            });
            for slot in mine {
                *counts.entry(slot).or_default() += 1;
            }
        }
        counts
    }

    /// Hold tables attached (tests, stats).
    pub fn attached_tables(&self) -> usize {
        self.direct.tables.len()
    }

    /// Objects kept because a slot held them when the store wanted to free
    /// them.
    pub fn pinned_objects(&self) -> usize {
        self.direct.pinned_count()
    }
}

#[cfg(any(test, feature = "invariants"))]
impl Store {
    /// Panics unless the directory describes exactly the published objects
    /// and every pinned object is sealed, unpublished and in no list.
    pub(super) fn check_direct(&self) {
        let Some(w) = self.direct.writer() else {
            assert!(self.direct.pinned.is_empty());
            return;
        };
        let reader = plasma_protocol::direct::Directory::open(
            self.direct
                .directory
                .as_ref()
                .map(|d| d.words())
                .unwrap_or(&[]),
        )
        .unwrap();
        let entries = w.geometry().entries;
        for slot in 0..(entries as u32).min(self.table.slot_count()) {
            let gen = w.gen(slot);
            let e = self.table.get(slot);
            if gen & 1 == 1 {
                assert_eq!(e.state, State::Sealed, "published slot {slot} not sealed");
                assert!(!self.direct.is_pinned(slot), "published slot {slot} pinned");
                let s = reader.lookup(&e.id).expect("published object not indexed");
                assert_eq!(
                    (s.entry, s.gen, s.data_offset, s.data_size, s.metadata_size),
                    (slot, gen, e.offset, e.data_size, e.metadata_size)
                );
            }
        }
        for &slot in &self.direct.pinned {
            let e = self.table.get(slot);
            assert_eq!(e.state, State::Sealed, "pinned slot {slot} not sealed");
            assert_eq!(w.gen(slot) & 1, 0, "pinned slot {slot} published");
            assert_eq!(e.list, ListTag::None, "pinned slot {slot} in a list");
        }
    }
}
