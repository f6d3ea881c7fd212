//! The client against a scripted fake store on a real Unix socket: checks
//! the bytes, fds and ordering the client produces, including the
//! release-versus-get race of `holds.rs`, without a real store.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use plasma_protocol::{
    decode_request, fd, parse_frame, Encoder, ErrorCode, ObjectId, ObjectSpec, Reply, Request,
    DEFAULT_MAX_FRAME_LEN,
};

use crate::{digest, Client, ClientOptions, GetError, ListError};

const SEGMENT: i32 = 7;
const SEGMENT_LEN: usize = 4096;

/// The store side of one connection.
struct FakeConn {
    sock: UnixStream,
    buf: Vec<u8>,
    encoder: Encoder,
}

impl FakeConn {
    /// Reads the next request and hands it to `f`.
    fn expect<R>(&mut self, f: impl FnOnce(&Request<'_>) -> R) -> R {
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf, DEFAULT_MAX_FRAME_LEN).unwrap() {
                let req = decode_request(frame.msg_type, frame.payload).unwrap();
                let r = f(&req);
                self.buf.drain(..used);
                return r;
            }
            let mut chunk = [0u8; 65536];
            let n = self.sock.read(&mut chunk).unwrap();
            assert!(n > 0, "client closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Whether the client sends anything within `wait`.
    fn sends_within(&mut self, wait: Duration) -> bool {
        if !self.buf.is_empty() {
            return true;
        }
        self.sock.set_read_timeout(Some(wait)).unwrap();
        let mut chunk = [0u8; 65536];
        let got = match self.sock.read(&mut chunk) {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                n > 0
            }
            Err(_) => false,
        };
        self.sock.set_read_timeout(None).unwrap();
        got
    }

    fn reply(&mut self, reply: &Reply) {
        let mut out = Vec::new();
        self.encoder.encode_reply(reply, &mut out);
        self.sock.write_all(&out).unwrap();
    }

    fn connect(&mut self) {
        self.expect(|r| assert_eq!(*r, Request::Connect));
        self.reply(&Reply::Connect {
            memory_capacity: 1000,
        });
    }
}

/// A listener in a temp dir and a thread running `script` on the first
/// connection.
fn fake_store(
    script: impl FnOnce(FakeConn) + Send + 'static,
) -> (tempfile::TempDir, std::path::PathBuf, JoinHandle<()>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let thread = std::thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        script(FakeConn {
            sock,
            buf: Vec::new(),
            encoder: Encoder::new(),
        });
    });
    (dir, path, thread)
}

fn segment_file() -> std::fs::File {
    let file = tempfile::tempfile().unwrap();
    file.set_len(SEGMENT_LEN as u64).unwrap();
    file
}

fn spec(offset: u64, data: u64, meta: u64) -> ObjectSpec {
    ObjectSpec {
        segment_index: SEGMENT,
        data_offset: offset,
        data_size: data,
        metadata_offset: offset + data,
        metadata_size: meta,
        device_num: 0,
    }
}

fn get_reply(ids: &[ObjectId], objects: Vec<ObjectSpec>) -> Reply {
    Reply::Get {
        ids: ids.to_vec(),
        objects,
        store_fds: vec![SEGMENT],
        mmap_sizes: vec![SEGMENT_LEN as i64 + 8],
    }
}

fn client(path: &std::path::Path) -> Client {
    let options = ClientOptions {
        connect_retries: 0,
        ..ClientOptions::default()
    };
    Client::connect_with(path, options).unwrap()
}

#[test]
fn create_writes_metadata_seal_sends_digest_and_release_waits_for_the_last_buffer() {
    let id = ObjectId::from_bytes([1; 20]);
    let (seen_tx, seen_rx) = mpsc::channel();
    let (_dir, path, store) = fake_store(move |mut c| {
        let file = segment_file();
        c.connect();
        c.expect(|r| {
            assert_eq!(
                *r,
                Request::Create {
                    id,
                    evict_if_full: true,
                    data_size: 5,
                    metadata_size: 2,
                    device_num: 0
                }
            )
        });
        c.reply(&Reply::Create {
            id,
            object: spec(64, 5, 2),
            error: ErrorCode::Ok,
            store_fd: SEGMENT,
            mmap_size: SEGMENT_LEN as i64 + 8,
        });
        fd::send_fd(c.sock.as_fd(), file.as_fd()).unwrap();

        c.expect(|r| {
            assert_eq!(
                *r,
                Request::Seal {
                    id,
                    digest: digest(b"hello", b"md")
                }
            )
        });
        let mut written = [0u8; 7];
        file.read_exact_at(&mut written, 64).unwrap();
        assert_eq!(&written, b"hellomd");
        c.reply(&Reply::Seal {
            id,
            error: ErrorCode::Ok,
        });

        // Segment already sent on this connection: no fd this time.
        c.expect(|r| assert!(matches!(r, Request::Get { ids, timeout_ms: 0 } if ids == &[id, id])));
        c.reply(&get_reply(&[id, id], vec![spec(64, 5, 2), spec(64, 5, 2)]));

        // The seal's buffer was dropped before this List: no Release yet.
        c.expect(|r| assert_eq!(*r, Request::List));
        c.reply(&Reply::List {
            objects: Vec::new(),
        });
        c.expect(|r| assert_eq!(*r, Request::Release { id }));
        seen_tx.send("release").unwrap();
        assert!(
            !c.sends_within(Duration::from_millis(100)),
            "a single Release"
        );
    });

    let client = client(&path);
    assert_eq!(client.store_capacity(), 1000);
    let mut builder = client.create(id, 5, b"md").unwrap();
    builder.data_mut().copy_from_slice(b"hello");
    let sealed = builder.seal().unwrap();
    let got = client.try_get(&[id, id]).unwrap();
    drop(sealed);
    client.list().unwrap();
    let first = got[0].clone().unwrap();
    drop(got);
    assert_eq!(first.data(), b"hello");
    assert_eq!(first.metadata(), b"md");
    drop(first);
    assert_eq!(seen_rx.recv_timeout(Duration::from_secs(5)), Ok("release"));
    store.join().unwrap();
}

#[test]
fn release_during_a_get_of_the_same_object_is_deferred_and_dropped() {
    let id = ObjectId::from_bytes([2; 20]);
    let (get_seen_tx, get_seen_rx) = mpsc::channel();
    let (proceed_tx, proceed_rx) = mpsc::channel::<()>();
    let (_dir, path, store) = fake_store(move |mut c| {
        let file = segment_file();
        c.connect();
        c.expect(|r| assert!(matches!(r, Request::Get { .. })));
        c.reply(&get_reply(&[id], vec![spec(0, 3, 0)]));
        fd::send_fd(c.sock.as_fd(), file.as_fd()).unwrap();

        // Second get of the same object: the client drops its only buffer
        // while we sit on the request.
        c.expect(|r| assert!(matches!(r, Request::Get { .. })));
        get_seen_tx.send(()).unwrap();
        proceed_rx.recv().unwrap();
        assert!(
            !c.sends_within(Duration::from_millis(200)),
            "Release must not overtake the reply to a get of the same object"
        );
        // Answered from the hold the client still has.
        c.reply(&get_reply(&[id], vec![spec(0, 3, 0)]));
        assert!(!c.sends_within(Duration::from_millis(100)), "hold reused");
        c.expect(|r| assert_eq!(*r, Request::Release { id }));
    });

    let client = client(&path);
    let first = client.try_get(&[id]).unwrap();
    let second = std::thread::spawn({
        let client = client.clone();
        move || client.try_get(&[id]).unwrap()
    });
    get_seen_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    drop(first);
    proceed_tx.send(()).unwrap();
    let second = second.join().unwrap();
    assert!(second[0].is_some());
    std::thread::sleep(Duration::from_millis(150));
    drop(second);
    store.join().unwrap();
}

#[test]
fn store_death_fails_the_pending_get_and_every_later_call() {
    let id = ObjectId::from_bytes([3; 20]);
    let (_dir, path, store) = fake_store(move |mut c| {
        c.connect();
        c.expect(|r| assert!(matches!(r, Request::List)));
        // Die without answering.
    });
    let client = client(&path);
    assert!(matches!(client.list(), Err(ListError::Disconnected)));
    store.join().unwrap();
    // The client does not try again: fails fast, no reconnection.
    assert!(matches!(client.try_get(&[id]), Err(GetError::Disconnected)));
    assert!(matches!(
        client.get_timeout(&[id], Duration::from_secs(10)),
        Err(GetError::Disconnected)
    ));
}

#[test]
fn create_reply_with_wrong_sizes_is_a_protocol_error_and_aborts() {
    let id = ObjectId::from_bytes([4; 20]);
    let (_dir, path, store) = fake_store(move |mut c| {
        let file = segment_file();
        c.connect();
        c.expect(|r| assert!(matches!(r, Request::Create { .. })));
        c.reply(&Reply::Create {
            id,
            object: spec(0, 9, 0),
            error: ErrorCode::Ok,
            store_fd: SEGMENT,
            mmap_size: SEGMENT_LEN as i64 + 8,
        });
        fd::send_fd(c.sock.as_fd(), file.as_fd()).unwrap();
        c.expect(|r| assert_eq!(*r, Request::Abort { id }));
        c.reply(&Reply::Abort { id });
    });
    let client = client(&path);
    assert!(matches!(
        client.create(id, 5, b""),
        Err(crate::CreateError::Protocol(_))
    ));
    store.join().unwrap();
}

#[test]
fn stats_are_asked_only_of_a_store_that_announces_them() {
    let (tx, rx) = mpsc::channel();
    let (_dir, path, store) = fake_store(move |mut c| {
        c.connect();
        // A Plasma 11 store: no announcement, so no Stats request follows.
        c.expect(|r| assert_eq!(*r, Request::DebugString));
        c.reply(&Reply::DebugString {
            text: "allocated bytes: 0".into(),
        });
        tx.send(c.sends_within(Duration::from_millis(200))).unwrap();
        // Then one that announces it.
        c.expect(|r| assert_eq!(*r, Request::DebugString));
        c.reply(&Reply::DebugString {
            text: "x\nplasma-store extensions: await\nplasma-store extensions: stats".into(),
        });
        c.expect(|r| assert_eq!(*r, Request::Stats));
        let mut stats = crate::StoreStats::default();
        stats.capacity = 1000;
        c.reply(&Reply::Stats(Box::new(stats)));
    });
    let client = client(&path);
    assert!(matches!(
        client.stats(),
        Err(crate::StatsError::Unsupported)
    ));
    assert!(
        !rx.recv().unwrap(),
        "a Stats request went to a store without it"
    );
    assert_eq!(client.stats().unwrap().capacity, 1000);
    store.join().unwrap();
}
