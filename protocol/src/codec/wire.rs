//! Shared flatbuffers plumbing for every message family: verifier set-up and
//! table verifiers, a bounds-checked reader for verified buffers, and the
//! writers for ids, digests and `PlasmaObjectSpec` structs.
//!
//! Reading: flatbuffers' own accessors (`Table::get`, `Follow`) are `unsafe`
//! in v25 and the workspace denies unsafe code here, so after the
//! flatbuffers `Verifier` has accepted a buffer the fields are read with the
//! small safe reader below. Its bounds checks cannot fail on a verified
//! buffer; they only turn a would-be panic into [`DecodeError::OutOfBounds`].

use flatbuffers::{
    FlatBufferBuilder, ForwardsUOffset, InvalidFlatbuffer, SimpleToVerifyInSlice,
    TableFinishedWIPOffset, Vector, Verifiable, Verifier, VerifierOptions, WIPOffset,
};

use super::DecodeError;
use crate::{Digest, ErrorCode, ObjectId, ObjectSpec};

/// The builder type the encoder reuses.
pub(crate) type Fbb = FlatBufferBuilder<'static>;
/// A finished table, ready to be a root.
pub(crate) type Root = WIPOffset<TableFinishedWIPOffset>;

/// Vtable offset of field slot `slot`.
pub(crate) const fn vt(slot: u16) -> u16 {
    4 + 2 * slot
}

/// A flatbuffers `string` holding raw bytes: length, bytes, NUL terminator,
/// with no UTF-8 requirement (ids, digests and object data are binary).
pub(crate) enum RawString {}

impl Verifiable for RawString {
    fn run_verifier(v: &mut Verifier<'_, '_>, pos: usize) -> Result<(), InvalidFlatbuffer> {
        let len = v.get_uoffset(pos)? as usize;
        let start = pos.saturating_add(4);
        let end = start.saturating_add(len);
        v.range_in_buffer(start, len)?;
        if v.get_u8(end).ok() != Some(0) {
            return Err(InvalidFlatbuffer::MissingNullTerminator {
                range: start..end,
                error_trace: Default::default(),
            });
        }
        Ok(())
    }
}

/// Verifier type of a string field carrying bytes.
pub(crate) type BytesField = ForwardsUOffset<RawString>;
/// Verifier type of a `[string]` field.
pub(crate) type BytesVecField = ForwardsUOffset<Vector<'static, ForwardsUOffset<RawString>>>;
/// Verifier type of an `[int32]` field.
pub(crate) type I32VecField = ForwardsUOffset<Vector<'static, i32>>;
/// Verifier type of an `[int64]` field.
pub(crate) type I64VecField = ForwardsUOffset<Vector<'static, i64>>;
/// Verifier type of a `[PlasmaObjectSpec]` field.
pub(crate) type SpecVecField = ForwardsUOffset<Vector<'static, SpecStruct>>;
/// Verifier type of a vector-of-tables field.
pub(crate) type TableVecField<T> = ForwardsUOffset<Vector<'static, ForwardsUOffset<T>>>;

/// Size of `PlasmaObjectSpec` on the wire.
pub(crate) const SPEC_LEN: usize = 48;

/// Layout stand-in for `PlasmaObjectSpec` (48 bytes, 8-aligned), used only as
/// a type parameter of the verifier, which takes size and alignment from it.
#[allow(dead_code)]
#[repr(C, align(8))]
pub(crate) struct SpecStruct([u8; SPEC_LEN]);

impl Verifiable for SpecStruct {
    fn run_verifier(v: &mut Verifier<'_, '_>, pos: usize) -> Result<(), InvalidFlatbuffer> {
        v.in_buffer::<SpecStruct>(pos)
    }
}

impl SimpleToVerifyInSlice for SpecStruct {}

/// Declares an uninhabited marker type whose `Verifiable` impl visits a table
/// with the listed `(slot, name, verifier type)` fields. Presence rules are
/// checked by the decoders (they report [`DecodeError::MissingField`]).
macro_rules! table_verifier {
    ($(#[$doc:meta])* $name:ident { $($slot:literal $field:literal : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        pub(crate) enum $name {}

        impl flatbuffers::Verifiable for $name {
            fn run_verifier(
                v: &mut flatbuffers::Verifier<'_, '_>,
                pos: usize,
            ) -> Result<(), flatbuffers::InvalidFlatbuffer> {
                v.visit_table(pos)?
                    $(.visit_field::<$ty>($field, $crate::codec::wire::vt($slot), false)?)*
                    .finish();
                Ok(())
            }
        }
    };
}
pub(crate) use table_verifier;

table_verifier!(
    /// A table whose fields are all ignored (empty requests and replies).
    EmptyTable {}
);

table_verifier!(
    /// A table whose only field of interest is slot 0 `object_id`.
    IdTable { 0 "object_id": BytesField }
);

/// Verifies `payload` as a flatbuffer rooted at a `T` table and returns a
/// reader for that root. Limits scale with the payload: at most one table
/// per four bytes, and an "apparent size" (bytes visited, counting shared
/// parts once per visit) of eight times the payload, which bounds the work
/// a crafted DAG can cause.
///
/// Every flatbuffers builder pads the finished buffer to its alignment (at
/// least 4), so a payload whose length is not a multiple of 4 is rejected
/// as truncated or padded by something else.
pub(crate) fn verify_root<T: Verifiable>(payload: &[u8]) -> Result<TableReader<'_>, DecodeError> {
    #[allow(clippy::manual_is_multiple_of)] // `is_multiple_of` needs Rust 1.87; MSRV is 1.80
    if payload.len() % 4 != 0 {
        return Err(DecodeError::UnalignedLength(payload.len()));
    }
    let opts = VerifierOptions {
        max_depth: 8,
        max_tables: payload.len() / 4 + 1,
        max_apparent_size: payload.len().saturating_mul(8).saturating_add(4096),
        ignore_missing_null_terminator: true,
    };
    let mut verifier = Verifier::new(&opts, payload);
    <ForwardsUOffset<T>>::run_verifier(&mut verifier, 0)?;
    TableReader::root(payload)
}

fn le<const N: usize>(buf: &[u8], pos: usize) -> Result<[u8; N], DecodeError> {
    pos.checked_add(N)
        .and_then(|end| buf.get(pos..end))
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(DecodeError::OutOfBounds(pos))
}

fn u32_at(buf: &[u8], pos: usize) -> Result<usize, DecodeError> {
    Ok(u32::from_le_bytes(le(buf, pos)?) as usize)
}

fn add(a: usize, b: usize) -> Result<usize, DecodeError> {
    a.checked_add(b).ok_or(DecodeError::OutOfBounds(a))
}

/// Follows the uoffset stored at `pos`.
fn follow(buf: &[u8], pos: usize) -> Result<usize, DecodeError> {
    add(pos, u32_at(buf, pos)?)
}

/// The bytes of the string / byte vector starting (at its length) at `pos`.
fn bytes_at(buf: &[u8], pos: usize) -> Result<&[u8], DecodeError> {
    let len = u32_at(buf, pos)?;
    let start = add(pos, 4)?;
    buf.get(start..add(start, len)?)
        .ok_or(DecodeError::OutOfBounds(pos))
}

/// A table in a verified buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TableReader<'a> {
    buf: &'a [u8],
    pos: usize,
    vtable: usize,
    vt_len: usize,
}

impl<'a> TableReader<'a> {
    fn root(buf: &'a [u8]) -> Result<Self, DecodeError> {
        Self::at(buf, u32_at(buf, 0)?)
    }

    fn at(buf: &'a [u8], pos: usize) -> Result<Self, DecodeError> {
        let soffset = i32::from_le_bytes(le(buf, pos)?);
        let vtable = (pos as i64)
            .checked_sub(i64::from(soffset))
            .and_then(|v| usize::try_from(v).ok())
            .ok_or(DecodeError::OutOfBounds(pos))?;
        let vt_len = usize::from(u16::from_le_bytes(le(buf, vtable)?));
        Ok(Self {
            buf,
            pos,
            vtable,
            vt_len,
        })
    }

    /// Absolute position of field `slot`, if present.
    fn field(&self, slot: u16) -> Result<Option<usize>, DecodeError> {
        let entry = usize::from(vt(slot));
        if entry + 2 > self.vt_len {
            return Ok(None);
        }
        let off = u16::from_le_bytes(le(self.buf, add(self.vtable, entry)?)?);
        if off == 0 {
            return Ok(None);
        }
        add(self.pos, usize::from(off)).map(Some)
    }

    fn scalar<const N: usize>(&self, slot: u16) -> Result<Option<[u8; N]>, DecodeError> {
        match self.field(slot)? {
            Some(pos) => le(self.buf, pos).map(Some),
            None => Ok(None),
        }
    }

    /// An `int64` field, 0 when absent.
    pub(crate) fn i64(&self, slot: u16) -> Result<i64, DecodeError> {
        Ok(self.scalar(slot)?.map_or(0, i64::from_le_bytes))
    }

    /// A `uint64` field, 0 when absent.
    pub(crate) fn u64(&self, slot: u16) -> Result<u64, DecodeError> {
        Ok(self.scalar(slot)?.map_or(0, u64::from_le_bytes))
    }

    /// A `uint32` field, 0 when absent.
    pub(crate) fn u32(&self, slot: u16) -> Result<u32, DecodeError> {
        Ok(self.scalar(slot)?.map_or(0, u32::from_le_bytes))
    }

    /// A `uint8` field, 0 when absent.
    pub(crate) fn u8(&self, slot: u16) -> Result<u8, DecodeError> {
        Ok(self.scalar::<1>(slot)?.map_or(0, |[b]| b))
    }

    /// An `int32` field, 0 when absent.
    pub(crate) fn i32(&self, slot: u16) -> Result<i32, DecodeError> {
        Ok(self.scalar(slot)?.map_or(0, i32::from_le_bytes))
    }

    /// A `bool` field, false when absent.
    pub(crate) fn bool(&self, slot: u16) -> Result<bool, DecodeError> {
        Ok(self.scalar::<1>(slot)?.is_some_and(|[b]| b != 0))
    }

    /// A `PlasmaError` field, `Ok` when absent.
    pub(crate) fn error(&self, slot: u16) -> Result<ErrorCode, DecodeError> {
        error_code(self.i32(slot)?)
    }

    /// A string / byte-vector field, if present.
    pub(crate) fn bytes(&self, slot: u16) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.field(slot)? {
            Some(pos) => bytes_at(self.buf, follow(self.buf, pos)?).map(Some),
            None => Ok(None),
        }
    }

    /// A required object id field.
    pub(crate) fn id(&self, slot: u16, name: &'static str) -> Result<ObjectId, DecodeError> {
        object_id(self.bytes(slot)?.ok_or(DecodeError::MissingField(name))?)
    }

    /// A required 8-byte digest field.
    pub(crate) fn digest(&self, slot: u16, name: &'static str) -> Result<Digest, DecodeError> {
        digest(self.bytes(slot)?.ok_or(DecodeError::MissingField(name))?)
    }

    /// A vector field, if present.
    pub(crate) fn vector(&self, slot: u16) -> Result<Option<VectorReader<'a>>, DecodeError> {
        let Some(pos) = self.field(slot)? else {
            return Ok(None);
        };
        let start = follow(self.buf, pos)?;
        Ok(Some(VectorReader {
            buf: self.buf,
            len: u32_at(self.buf, start)?,
            start: add(start, 4)?,
        }))
    }

    /// A required vector field.
    pub(crate) fn required_vector(
        &self,
        slot: u16,
        name: &'static str,
    ) -> Result<VectorReader<'a>, DecodeError> {
        self.vector(slot)?.ok_or(DecodeError::MissingField(name))
    }

    /// A vector field; an absent one reads as empty.
    pub(crate) fn vector_or_empty(&self, slot: u16) -> Result<VectorReader<'a>, DecodeError> {
        Ok(self.vector(slot)?.unwrap_or(VectorReader {
            buf: self.buf,
            start: 0,
            len: 0,
        }))
    }

    /// An inline `PlasmaObjectSpec` field, if present.
    pub(crate) fn spec(&self, slot: u16) -> Result<Option<ObjectSpec>, DecodeError> {
        match self.field(slot)? {
            Some(pos) => spec_at(self.buf, pos).map(Some),
            None => Ok(None),
        }
    }
}

/// A vector in a verified buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VectorReader<'a> {
    buf: &'a [u8],
    /// Position of element 0.
    start: usize,
    len: usize,
}

impl<'a> VectorReader<'a> {
    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn elem(&self, i: usize, size: usize) -> Result<usize, DecodeError> {
        i.checked_mul(size)
            .and_then(|o| self.start.checked_add(o))
            .ok_or(DecodeError::OutOfBounds(self.start))
    }

    /// Element `i` of a `[string]` vector.
    pub(crate) fn bytes(&self, i: usize) -> Result<&'a [u8], DecodeError> {
        bytes_at(self.buf, follow(self.buf, self.elem(i, 4)?)?)
    }

    /// Element `i` of an `[int32]` vector.
    pub(crate) fn i32(&self, i: usize) -> Result<i32, DecodeError> {
        le(self.buf, self.elem(i, 4)?).map(i32::from_le_bytes)
    }

    /// Element `i` of an `[int64]` vector.
    pub(crate) fn i64(&self, i: usize) -> Result<i64, DecodeError> {
        le(self.buf, self.elem(i, 8)?).map(i64::from_le_bytes)
    }

    /// Element `i` of a `[PlasmaObjectSpec]` vector.
    pub(crate) fn spec(&self, i: usize) -> Result<ObjectSpec, DecodeError> {
        spec_at(self.buf, self.elem(i, SPEC_LEN)?)
    }

    /// Element `i` of a vector of tables.
    pub(crate) fn table(&self, i: usize) -> Result<TableReader<'a>, DecodeError> {
        TableReader::at(self.buf, follow(self.buf, self.elem(i, 4)?)?)
    }

    /// All elements of a `[string]` vector of object ids.
    pub(crate) fn ids(&self) -> Result<Vec<ObjectId>, DecodeError> {
        (0..self.len).map(|i| object_id(self.bytes(i)?)).collect()
    }
}

fn spec_at(buf: &[u8], pos: usize) -> Result<ObjectSpec, DecodeError> {
    let u64_at =
        |o: usize| -> Result<u64, DecodeError> { le(buf, add(pos, o)?).map(u64::from_le_bytes) };
    let i32_at =
        |o: usize| -> Result<i32, DecodeError> { le(buf, add(pos, o)?).map(i32::from_le_bytes) };
    Ok(ObjectSpec {
        segment_index: i32_at(0)?,
        data_offset: u64_at(8)?,
        data_size: u64_at(16)?,
        metadata_offset: u64_at(24)?,
        metadata_size: u64_at(32)?,
        device_num: i32_at(40)?,
    })
}

/// An object id from a string field's bytes.
pub(crate) fn object_id(bytes: &[u8]) -> Result<ObjectId, DecodeError> {
    ObjectId::try_from_slice(bytes).ok_or(DecodeError::BadIdLength(bytes.len()))
}

/// A digest from a string field's bytes.
pub(crate) fn digest(bytes: &[u8]) -> Result<Digest, DecodeError> {
    Digest::try_from(bytes).map_err(|_| DecodeError::BadDigestLength(bytes.len()))
}

/// A `PlasmaError` from its wire value.
pub(crate) fn error_code(n: i32) -> Result<ErrorCode, DecodeError> {
    ErrorCode::from_i32(n).ok_or(DecodeError::BadErrorCode(n))
}

// ---- writing ----

fn spec_words(s: &ObjectSpec) -> [u64; 6] {
    [
        u64::from(s.segment_index as u32),
        s.data_offset,
        s.data_size,
        s.metadata_offset,
        s.metadata_size,
        u64::from(s.device_num as u32),
    ]
}

/// Writes `spec` inline (8-aligned, 48 bytes, zero padding) as field `slot`
/// of the table under construction.
pub(crate) fn push_spec(fbb: &mut Fbb, slot: u16, spec: &ObjectSpec) {
    let words = spec_words(spec);
    // The builder writes back to front: the last word pushed is the struct's
    // first, and that is the position the vtable must record.
    for &w in words[1..].iter().rev() {
        fbb.push(w);
    }
    fbb.push_slot_always(vt(slot), words[0]);
}

/// Writes a `[PlasmaObjectSpec]` vector.
pub(crate) fn spec_vector(fbb: &mut Fbb, specs: &[ObjectSpec]) -> WIPOffset<Vector<'static, u64>> {
    fbb.start_vector::<u64>(specs.len() * 6);
    for spec in specs.iter().rev() {
        for &w in spec_words(spec).iter().rev() {
            fbb.push(w);
        }
    }
    fbb.end_vector::<u64>(specs.len())
}

/// Writes a vector of offsets previously collected in `offsets`.
pub(crate) fn offset_vector<T>(
    fbb: &mut Fbb,
    offsets: &[u32],
) -> WIPOffset<Vector<'static, ForwardsUOffset<T>>> {
    fbb.create_vector_from_iter(offsets.iter().map(|&o| WIPOffset::<T>::new(o)))
}

/// Writes one string per item (in order, so the first lands highest, as the
/// C++ peers do) and then the `[string]` vector of them.
pub(crate) fn bytes_vector<'i, I>(
    fbb: &mut Fbb,
    scratch: &mut Vec<u32>,
    items: I,
) -> WIPOffset<Vector<'static, ForwardsUOffset<&'static [u8]>>>
where
    I: IntoIterator<Item = &'i [u8]>,
{
    scratch.clear();
    for item in items {
        scratch.push(fbb.create_byte_string(item).value());
    }
    offset_vector(fbb, scratch)
}

/// [`bytes_vector`] for object ids.
pub(crate) fn id_vector(
    fbb: &mut Fbb,
    scratch: &mut Vec<u32>,
    ids: &[ObjectId],
) -> WIPOffset<Vector<'static, ForwardsUOffset<&'static [u8]>>> {
    bytes_vector(fbb, scratch, ids.iter().map(|id| &id.as_bytes()[..]))
}

/// Writes an object id string.
pub(crate) fn id_string(fbb: &mut Fbb, id: &ObjectId) -> WIPOffset<&'static [u8]> {
    fbb.create_byte_string(id.as_bytes())
}

/// A table with no fields (12 bytes, as the real peers write it).
pub(crate) fn empty_table(fbb: &mut Fbb) -> Root {
    let start = fbb.start_table();
    fbb.end_table(start)
}

/// A table with only slot 0 `object_id`.
pub(crate) fn id_table(fbb: &mut Fbb, id: &ObjectId) -> Root {
    let s = id_string(fbb, id);
    let start = fbb.start_table();
    fbb.push_slot_always(vt(0), s);
    fbb.end_table(start)
}
