//! The protocol's data model: message types, error codes, object specs and
//! the decoded form of every request and reply (protocol.md §4, §5, §8).
//!
//! Requests borrow from the frame they were decoded from, so inline object
//! data (create-and-seal) is never copied before it reaches the arena.

use crate::{ObjectId, StoreStats};

/// Length of a digest: the little-endian bytes of a `u64` (protocol.md §11).
pub const DIGEST_LEN: usize = 8;

/// The 8-byte digest a client computes at seal time. The store only keeps
/// and echoes it.
pub type Digest = [u8; DIGEST_LEN];

/// The line by which a store announces our Await addition in its
/// GetDebugString text. A client asks for the text (which every Plasma 11
/// store answers) before it sends any of our types, which would make the
/// real store abort. Clients written before the Stats addition look for
/// exactly this line, so it never changes; see [`crate::extensions`] for
/// how later additions are announced.
pub const EXTENSIONS_MARKER: &str = "plasma-store extensions: await";

/// Message type numbers carried in the frame header (protocol.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i64)]
#[non_exhaustive]
pub enum MessageType {
    DisconnectClient = 0,
    CreateRequest = 1,
    CreateReply = 2,
    CreateAndSealRequest = 3,
    CreateAndSealReply = 4,
    AbortRequest = 5,
    AbortReply = 6,
    SealRequest = 7,
    SealReply = 8,
    GetRequest = 9,
    GetReply = 10,
    ReleaseRequest = 11,
    ReleaseReply = 12,
    DeleteRequest = 13,
    DeleteReply = 14,
    ContainsRequest = 15,
    ContainsReply = 16,
    ListRequest = 17,
    ListReply = 18,
    ConnectRequest = 19,
    ConnectReply = 20,
    EvictRequest = 21,
    EvictReply = 22,
    SubscribeRequest = 23,
    UnsubscribeRequest = 24,
    DataRequest = 25,
    DataReply = 26,
    Notification = 27,
    SetOptionsRequest = 28,
    SetOptionsReply = 29,
    GetDebugStringRequest = 30,
    GetDebugStringReply = 31,
    CreateAndSealBatchRequest = 32,
    CreateAndSealBatchReply = 33,
    RefreshLruRequest = 34,
    RefreshLruReply = 35,
    /// Ours (not in Plasma 11): register ids to be pushed when sealed.
    AwaitRequest = 64,
    /// Ours: a pushed sealed object, held for the receiver.
    ObjectReady = 65,
    /// Ours: cancel registrations made by AwaitRequest.
    UnawaitRequest = 66,
    /// Ours: the registrations UnawaitRequest removed.
    UnawaitReply = 67,
    /// Ours (announced as `stats`): ask for the store's counters.
    StatsRequest = 68,
    /// Ours: the store's counters.
    StatsReply = 69,
    /// Ours (`direct`): give this connection a hold table and the directory.
    AttachRequest = 70,
    /// Ours: the answer to AttachRequest; the segment fds follow it.
    AttachReply = 71,
    /// Ours (`direct`): create, seal and hold an object sent inline.
    PutRequest = 72,
    /// Ours: the answer to PutRequest.
    PutReply = 73,
    /// Ours (`direct`): read my release log (no reply).
    HoldsChanged = 74,
}

impl MessageType {
    /// Every message type, in numeric order.
    pub const ALL: [MessageType; 36] = [
        Self::DisconnectClient,
        Self::CreateRequest,
        Self::CreateReply,
        Self::CreateAndSealRequest,
        Self::CreateAndSealReply,
        Self::AbortRequest,
        Self::AbortReply,
        Self::SealRequest,
        Self::SealReply,
        Self::GetRequest,
        Self::GetReply,
        Self::ReleaseRequest,
        Self::ReleaseReply,
        Self::DeleteRequest,
        Self::DeleteReply,
        Self::ContainsRequest,
        Self::ContainsReply,
        Self::ListRequest,
        Self::ListReply,
        Self::ConnectRequest,
        Self::ConnectReply,
        Self::EvictRequest,
        Self::EvictReply,
        Self::SubscribeRequest,
        Self::UnsubscribeRequest,
        Self::DataRequest,
        Self::DataReply,
        Self::Notification,
        Self::SetOptionsRequest,
        Self::SetOptionsReply,
        Self::GetDebugStringRequest,
        Self::GetDebugStringReply,
        Self::CreateAndSealBatchRequest,
        Self::CreateAndSealBatchReply,
        Self::RefreshLruRequest,
        Self::RefreshLruReply,
    ];

    /// This project's additions to Plasma 11's protocol (docs/design.md,
    /// "Our protocol additions"): new types only, numbered from 64 so they
    /// can never collide with Plasma's.
    pub const EXTENSIONS: [MessageType; 11] = [
        Self::AwaitRequest,
        Self::ObjectReady,
        Self::UnawaitRequest,
        Self::UnawaitReply,
        Self::StatsRequest,
        Self::StatsReply,
        Self::AttachRequest,
        Self::AttachReply,
        Self::PutRequest,
        Self::PutReply,
        Self::HoldsChanged,
    ];

    /// Number of distinct types: [`MessageType::dense_index`] is below it.
    pub const COUNT: usize = Self::ALL.len() + Self::EXTENSIONS.len();

    /// The type with this wire number, if there is one.
    pub fn from_i64(n: i64) -> Option<Self> {
        if let Some(t) = usize::try_from(n)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
        {
            return Some(t);
        }
        Self::EXTENSIONS.iter().copied().find(|t| t.as_i64() == n)
    }

    /// The wire number.
    pub const fn as_i64(self) -> i64 {
        self as i64
    }

    /// A position in `0..COUNT`, one per type (Plasma's first, then ours):
    /// for tables indexed by type, such as per-request counters.
    pub const fn dense_index(self) -> usize {
        let n = self as usize;
        if n < Self::ALL.len() {
            n
        } else {
            Self::ALL.len() + (n - Self::AwaitRequest as usize)
        }
    }

    /// A short lower-case name: the request or reply it is, without the
    /// `Request`/`Reply` suffix (`get`, `create_and_seal`, `stats`), as
    /// metric labels and `plasma stats` show it. Replies share their
    /// request's name; only [`MessageType::ObjectReady`] and the unused
    /// Plasma types have names of their own.
    pub const fn short_name(self) -> &'static str {
        use MessageType as M;
        match self {
            M::DisconnectClient => "disconnect",
            M::CreateRequest | M::CreateReply => "create",
            M::CreateAndSealRequest | M::CreateAndSealReply => "create_and_seal",
            M::AbortRequest | M::AbortReply => "abort",
            M::SealRequest | M::SealReply => "seal",
            M::GetRequest | M::GetReply => "get",
            M::ReleaseRequest | M::ReleaseReply => "release",
            M::DeleteRequest | M::DeleteReply => "delete",
            M::ContainsRequest | M::ContainsReply => "contains",
            M::ListRequest | M::ListReply => "list",
            M::ConnectRequest | M::ConnectReply => "connect",
            M::EvictRequest | M::EvictReply => "evict",
            M::SubscribeRequest => "subscribe",
            M::UnsubscribeRequest => "unsubscribe",
            M::DataRequest | M::DataReply => "data",
            M::Notification => "notification",
            M::SetOptionsRequest | M::SetOptionsReply => "set_options",
            M::GetDebugStringRequest | M::GetDebugStringReply => "debug_string",
            M::CreateAndSealBatchRequest | M::CreateAndSealBatchReply => "create_and_seal_batch",
            M::RefreshLruRequest | M::RefreshLruReply => "refresh_lru",
            M::AwaitRequest => "await",
            M::ObjectReady => "object_ready",
            M::UnawaitRequest | M::UnawaitReply => "unawait",
            M::StatsRequest | M::StatsReply => "stats",
            M::AttachRequest | M::AttachReply => "attach",
            M::PutRequest | M::PutReply => "put",
            M::HoldsChanged => "holds_changed",
        }
    }
}

/// `PlasmaError`: the int32 status carried in `error`/`errors` fields
/// (protocol.md §5.2). `Ok` is the schema default and is omitted on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(i32)]
pub enum ErrorCode {
    #[default]
    Ok = 0,
    ObjectExists = 1,
    ObjectNotFound = 2,
    OutOfMemory = 3,
    ObjectNotSealed = 4,
    ObjectInUse = 5,
}

impl ErrorCode {
    /// The code with this wire value, if it is one of the six.
    pub fn from_i32(n: i32) -> Option<Self> {
        Some(match n {
            0 => Self::Ok,
            1 => Self::ObjectExists,
            2 => Self::ObjectNotFound,
            3 => Self::OutOfMemory,
            4 => Self::ObjectNotSealed,
            5 => Self::ObjectInUse,
            _ => return None,
        })
    }

    /// The wire value.
    pub const fn as_i32(self) -> i32 {
        self as i32
    }
}

/// `PlasmaObjectSpec`, the 48-byte inline struct that says where an object
/// lives (protocol.md §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ObjectSpec {
    /// Id of the memory segment; equals the `store_fd` the client maps.
    pub segment_index: i32,
    /// Offset of the data from the start of the segment.
    pub data_offset: u64,
    /// Data bytes; `u64::MAX` (all ones) marks "not available" in a GetReply.
    pub data_size: u64,
    /// Always `data_offset + data_size`.
    pub metadata_offset: u64,
    /// Metadata bytes.
    pub metadata_size: u64,
    /// 0 = host memory, the only kind this store serves.
    pub device_num: i32,
}

impl ObjectSpec {
    /// The entry a GetReply carries for an object that is not available.
    pub const NOT_AVAILABLE: ObjectSpec = ObjectSpec {
        segment_index: 0,
        data_offset: 0,
        data_size: u64::MAX,
        metadata_offset: 0,
        metadata_size: 0,
        device_num: 0,
    };

    /// Whether this GetReply entry denotes a found object.
    pub const fn is_available(&self) -> bool {
        self.data_size != u64::MAX
    }
}

/// `ObjectInfo`: one object as List and notifications describe it
/// (protocol.md §5.4).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ObjectInfo {
    pub object_id: ObjectId,
    pub data_size: i64,
    pub metadata_size: i64,
    /// Number of distinct clients holding the object (List only).
    pub ref_count: i32,
    /// Unix seconds (List only).
    pub create_time: i64,
    /// Whole seconds from create to seal, -1 while unsealed (List only).
    pub construct_duration: i64,
    /// `None` while unsealed: written as an empty string, except in deletion
    /// notifications, which carry no digest field at all.
    pub digest: Option<Digest>,
    /// True only in deletion notifications.
    pub is_deletion: bool,
    /// Where the object's bytes are (List only; our addition, §15): absent
    /// from the table, as in every frame of Plasma 11, while in memory.
    pub residence: Residence,
}

/// Where a sealed object's bytes are, as List reports it: a store that
/// spills to disk (`--spill-dir`) moves objects out of memory and back
/// (docs/protocol.md §15). Plasma's clients ignore the field; they see a
/// spilled object as sealed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Residence {
    /// In shared memory (every object of a store that does not spill).
    #[default]
    Memory,
    /// In shared memory, readable, while a copy is written to disk.
    Spilling,
    /// On disk only: a get brings it back.
    Disk,
    /// Being read back from disk into shared memory.
    Restoring,
}

impl Residence {
    /// Its value on the wire (`ObjectInfo` slot 8, a `ubyte`).
    pub const fn as_u8(self) -> u8 {
        match self {
            Residence::Memory => 0,
            Residence::Spilling => 1,
            Residence::Disk => 2,
            Residence::Restoring => 3,
        }
    }

    /// The residence a wire value names, if any.
    pub const fn from_u8(v: u8) -> Option<Residence> {
        match v {
            0 => Some(Residence::Memory),
            1 => Some(Residence::Spilling),
            2 => Some(Residence::Disk),
            3 => Some(Residence::Restoring),
            _ => None,
        }
    }
}

/// A decoded request (client → store). Borrows inline data from the frame.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request<'a> {
    /// Type 0: the store treats it as a disconnect.
    Disconnect,
    Connect,
    Create {
        id: ObjectId,
        evict_if_full: bool,
        data_size: u64,
        metadata_size: u64,
        device_num: i32,
    },
    CreateAndSeal {
        id: ObjectId,
        evict_if_full: bool,
        data: &'a [u8],
        metadata: &'a [u8],
        digest: Digest,
    },
    /// All four vectors have the same length (the decoder checks).
    CreateAndSealBatch {
        ids: Vec<ObjectId>,
        evict_if_full: bool,
        data: Vec<&'a [u8]>,
        metadata: Vec<&'a [u8]>,
        digests: Vec<Digest>,
    },
    Abort {
        id: ObjectId,
    },
    Seal {
        id: ObjectId,
        digest: Digest,
    },
    /// `timeout_ms`: -1 waits forever, 0 answers at once, N > 0 waits N ms.
    Get {
        ids: Vec<ObjectId>,
        timeout_ms: i64,
    },
    /// Has no reply.
    Release {
        id: ObjectId,
    },
    Delete {
        ids: Vec<ObjectId>,
    },
    Contains {
        id: ObjectId,
    },
    List,
    Evict {
        num_bytes: u64,
    },
    /// Has no reply; the client then passes the notification socket's fd.
    Subscribe,
    SetOptions {
        client_name: String,
        output_memory_quota: i64,
    },
    DebugString,
    RefreshLru {
        ids: Vec<ObjectId>,
    },
    /// Ours: push each of `ids` as [`Reply::ObjectReady`] (with a hold for
    /// this client) once it is sealed, at once if it is sealed now. No reply.
    Await {
        ids: Vec<ObjectId>,
    },
    /// Ours: forget this client's registrations of `ids`; answered with
    /// [`Reply::Unawait`].
    Unawait {
        ids: Vec<ObjectId>,
    },
    /// Ours (announced as `stats`): answered with [`Reply::Stats`].
    Stats,
    /// Ours (`direct`): give this connection a hold table; answered with
    /// [`Reply::Attach`] and the segment fds.
    Attach,
    /// Ours (`direct`): CreateAndSeal, then a hold for the sender in
    /// `slot` of its hold table ([`PUT_HOLD_BY_SOCKET`]: an ordinary hold
    /// through the connection); answered with [`Reply::Put`].
    Put {
        id: ObjectId,
        evict_if_full: bool,
        data: &'a [u8],
        metadata: &'a [u8],
        digest: Digest,
        slot: u32,
    },
    /// Ours (`direct`): the sender's release log has news. No reply.
    HoldsChanged,
}

/// The `slot` of a PutRequest that asks for a hold through the connection
/// instead of the hold table.
pub const PUT_HOLD_BY_SOCKET: u32 = u32::MAX;

/// How a PutReply's object is held for the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum PutHold {
    /// Not created (the error says why).
    #[default]
    None = 0,
    /// Through the slot the request named.
    Slot = 1,
    /// Through the connection, as after a Create: release it with a
    /// ReleaseRequest.
    Socket = 2,
}

impl PutHold {
    /// The kind with this wire value.
    pub fn from_u8(n: u8) -> Option<PutHold> {
        Some(match n {
            0 => PutHold::None,
            1 => PutHold::Slot,
            2 => PutHold::Socket,
            _ => return None,
        })
    }
}

impl Request<'_> {
    /// The frame type this request is sent with.
    pub fn message_type(&self) -> MessageType {
        match self {
            Request::Disconnect => MessageType::DisconnectClient,
            Request::Connect => MessageType::ConnectRequest,
            Request::Create { .. } => MessageType::CreateRequest,
            Request::CreateAndSeal { .. } => MessageType::CreateAndSealRequest,
            Request::CreateAndSealBatch { .. } => MessageType::CreateAndSealBatchRequest,
            Request::Abort { .. } => MessageType::AbortRequest,
            Request::Seal { .. } => MessageType::SealRequest,
            Request::Get { .. } => MessageType::GetRequest,
            Request::Release { .. } => MessageType::ReleaseRequest,
            Request::Delete { .. } => MessageType::DeleteRequest,
            Request::Contains { .. } => MessageType::ContainsRequest,
            Request::List => MessageType::ListRequest,
            Request::Evict { .. } => MessageType::EvictRequest,
            Request::Subscribe => MessageType::SubscribeRequest,
            Request::SetOptions { .. } => MessageType::SetOptionsRequest,
            Request::DebugString => MessageType::GetDebugStringRequest,
            Request::RefreshLru { .. } => MessageType::RefreshLruRequest,
            Request::Await { .. } => MessageType::AwaitRequest,
            Request::Unawait { .. } => MessageType::UnawaitRequest,
            Request::Stats => MessageType::StatsRequest,
            Request::Attach => MessageType::AttachRequest,
            Request::Put { .. } => MessageType::PutRequest,
            Request::HoldsChanged => MessageType::HoldsChanged,
        }
    }

    /// Whether the store answers this request with a reply frame.
    pub fn expects_reply(&self) -> bool {
        !matches!(
            self,
            Request::Release { .. }
                | Request::Subscribe
                | Request::Disconnect
                | Request::Await { .. }
                | Request::HoldsChanged
        )
    }
}

/// A reply (store → client).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    Connect {
        memory_capacity: i64,
    },
    /// On error, `object` is all zeros and `store_fd`/`mmap_size` are 0.
    Create {
        id: ObjectId,
        object: ObjectSpec,
        error: ErrorCode,
        store_fd: i32,
        mmap_size: i64,
    },
    CreateAndSeal {
        error: ErrorCode,
    },
    CreateAndSealBatch {
        error: ErrorCode,
    },
    Abort {
        id: ObjectId,
    },
    Seal {
        id: ObjectId,
        error: ErrorCode,
    },
    /// `ids` and `objects` match the request position by position;
    /// `store_fds`/`mmap_sizes` list the distinct segments of found objects.
    Get {
        ids: Vec<ObjectId>,
        objects: Vec<ObjectSpec>,
        store_fds: Vec<i32>,
        mmap_sizes: Vec<i64>,
    },
    /// The wire `count` field is `ids.len()`; `errors` has one entry per id.
    Delete {
        ids: Vec<ObjectId>,
        errors: Vec<ErrorCode>,
    },
    Contains {
        id: ObjectId,
        has_object: bool,
    },
    List {
        objects: Vec<ObjectInfo>,
    },
    Evict {
        num_bytes: u64,
    },
    SetOptions {
        error: ErrorCode,
    },
    DebugString {
        text: String,
    },
    RefreshLru,
    /// Ours, unsolicited: an object this client awaited is sealed; the
    /// store holds it for the client (release it as after a Get). Fields as
    /// in a successful CreateReply, whose table layout it uses; the segment
    /// fd follows if the segment is new to the connection.
    ObjectReady {
        id: ObjectId,
        object: ObjectSpec,
        store_fd: i32,
        mmap_size: i64,
    },
    /// Ours: the ids whose registration UnawaitRequest removed; for the
    /// others of its request an ObjectReady was (or no registration was)
    /// sent before this reply.
    Unawait {
        removed: Vec<ObjectId>,
    },
    /// Ours: the store's counters (boxed: far larger than any other reply).
    Stats(Box<StoreStats>),
    /// Ours (`direct`): the hold table and the directory follow as fd
    /// messages (after the arena's, if new to the connection); `error` is
    /// OutOfMemory when the store could not make a hold table.
    Attach {
        error: ErrorCode,
        store_fd: i32,
        mmap_size: i64,
    },
    /// Ours (`direct`): CreateReply's fields, plus the directory entry and
    /// generation of the object and how it is held for the sender. The
    /// arena fd follows if new to the connection.
    Put {
        id: ObjectId,
        object: ObjectSpec,
        error: ErrorCode,
        store_fd: i32,
        mmap_size: i64,
        entry: u32,
        gen: u64,
        hold: PutHold,
    },
}

impl Reply {
    /// The frame type this reply is sent with.
    pub fn message_type(&self) -> MessageType {
        match self {
            Reply::Connect { .. } => MessageType::ConnectReply,
            Reply::Create { .. } => MessageType::CreateReply,
            Reply::CreateAndSeal { .. } => MessageType::CreateAndSealReply,
            Reply::CreateAndSealBatch { .. } => MessageType::CreateAndSealBatchReply,
            Reply::Abort { .. } => MessageType::AbortReply,
            Reply::Seal { .. } => MessageType::SealReply,
            Reply::Get { .. } => MessageType::GetReply,
            Reply::Delete { .. } => MessageType::DeleteReply,
            Reply::Contains { .. } => MessageType::ContainsReply,
            Reply::List { .. } => MessageType::ListReply,
            Reply::Evict { .. } => MessageType::EvictReply,
            Reply::SetOptions { .. } => MessageType::SetOptionsReply,
            Reply::DebugString { .. } => MessageType::GetDebugStringReply,
            Reply::RefreshLru => MessageType::RefreshLruReply,
            Reply::ObjectReady { .. } => MessageType::ObjectReady,
            Reply::Unawait { .. } => MessageType::UnawaitReply,
            Reply::Stats(_) => MessageType::StatsReply,
            Reply::Attach { .. } => MessageType::AttachReply,
            Reply::Put { .. } => MessageType::PutReply,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_type_numbers_match_the_table() {
        for (i, t) in MessageType::ALL.iter().enumerate() {
            assert_eq!(t.as_i64(), i as i64);
            assert_eq!(MessageType::from_i64(i as i64), Some(*t));
        }
        assert_eq!(MessageType::from_i64(36), None);
        assert_eq!(MessageType::from_i64(-1), None);
        for t in MessageType::EXTENSIONS {
            assert!(t.as_i64() >= 64);
            assert_eq!(MessageType::from_i64(t.as_i64()), Some(t));
        }
        assert_eq!(MessageType::from_i64(63), None);
        assert_eq!(MessageType::from_i64(75), None);
    }

    #[test]
    fn dense_indices_are_distinct_and_in_range() {
        let all: Vec<_> = MessageType::ALL
            .into_iter()
            .chain(MessageType::EXTENSIONS)
            .collect();
        let mut seen = vec![false; MessageType::COUNT];
        for t in all {
            let i = t.dense_index();
            assert!(!seen[i], "{t:?} shares index {i}");
            seen[i] = true;
            assert!(!t.short_name().is_empty());
        }
        assert!(seen.into_iter().all(|s| s));
    }

    #[test]
    fn error_codes_round_trip() {
        for n in 0..6 {
            assert_eq!(ErrorCode::from_i32(n).map(ErrorCode::as_i32), Some(n));
        }
        assert_eq!(ErrorCode::from_i32(6), None);
    }
}
