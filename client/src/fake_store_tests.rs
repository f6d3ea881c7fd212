//! The client against a scripted fake store on a real Unix socket: checks
//! the bytes, fds and ordering the client produces, including the
//! release-versus-get race of `holds.rs`, without a real store.

use std::io::{ErrorKind, Read, Write};
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

use crate::{
    digest, AsFutureError, AsyncClient, AsyncClientOptions, Client, ClientOptions, ContainsError,
    CreateError, GetError, ListError, SealError,
};

const SEGMENT: i32 = 7;
const SEGMENT_LEN: usize = 4096;

/// What the fake store sees of the client's end of the connection.
#[derive(Debug, PartialEq, Eq)]
enum Peer {
    /// Open, and nothing sent.
    Open,
    /// Bytes arrived.
    Wrote,
    /// End of stream: the client closed its socket.
    Closed,
}

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

    /// What the client does with its end within `wait` (zero: as things
    /// stand now, without waiting).
    fn peer(&mut self, wait: Duration) -> Peer {
        if !self.buf.is_empty() {
            return Peer::Wrote;
        }
        if wait.is_zero() {
            self.sock.set_nonblocking(true).unwrap();
        } else {
            self.sock.set_read_timeout(Some(wait)).unwrap();
        }
        let mut chunk = [0u8; 65536];
        let got = self.sock.read(&mut chunk);
        self.sock.set_nonblocking(false).unwrap();
        self.sock.set_read_timeout(None).unwrap();
        match got {
            Ok(0) => Peer::Closed,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Peer::Wrote
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Peer::Open,
            Err(e) => panic!("reading the client's end: {e}"),
        }
    }

    /// Whether the client sends anything within `wait`.
    fn sends_within(&mut self, wait: Duration) -> bool {
        self.peer(wait) == Peer::Wrote
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

async fn async_client(path: &std::path::Path) -> AsyncClient {
    let options = AsyncClientOptions {
        connect_retries: 0,
        store_extensions: false,
        ..AsyncClientOptions::default()
    };
    AsyncClient::connect_with(path, options).await.unwrap()
}

/// `call`'s outcome, which must come without waiting on the store.
async fn promptly<T>(call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("a call on a failed connection must fail at once")
}

fn client(path: &std::path::Path) -> Client {
    // The classic protocol only: no debug text is asked for at connect.
    let options = ClientOptions {
        connect_retries: 0,
        direct: false,
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
    let (checked_tx, checked_rx) = mpsc::channel::<()>();
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
        checked_tx.send(()).unwrap();
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
    // The last buffer goes only after the store has watched for a release.
    checked_rx.recv_timeout(Duration::from_secs(5)).unwrap();
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

/// The sharing contract across a failure of the async client's connection:
/// the store ends a client's holds, and erases its unsealed objects, when
/// its connection closes; so the client must not close it while a buffer
/// or builder still reads or writes that memory. It used to, at once.
#[tokio::test(flavor = "current_thread")]
async fn an_async_client_that_gives_up_its_connection_keeps_it_open_until_its_last_view_goes() {
    let made = ObjectId::from_bytes([5; 20]);
    let got = ObjectId::from_bytes([6; 20]);
    let (conn_tx, conn_rx) = mpsc::channel();
    let (_dir, path, store) = fake_store(move |mut c| {
        let file = segment_file();
        c.connect();
        c.expect(|r| assert!(matches!(r, Request::Create { .. })));
        c.reply(&Reply::Create {
            id: made,
            object: spec(0, 4, 0),
            error: ErrorCode::Ok,
            store_fd: SEGMENT,
            mmap_size: SEGMENT_LEN as i64 + 8,
        });
        fd::send_fd(c.sock.as_fd(), file.as_fd()).unwrap();
        file.write_all_at(b"abc", 64).unwrap();
        c.expect(|r| assert!(matches!(r, Request::Get { .. })));
        c.reply(&get_reply(&[got], vec![spec(64, 3, 0)]));
        c.expect(|r| assert_eq!(*r, Request::List));
        // Not what a List calls for: the client must give the connection up.
        c.reply(&Reply::Contains {
            id: got,
            has_object: true,
        });
        conn_tx.send((c, file)).unwrap();
    });

    let client = async_client(&path).await;
    let mut builder = client.create(made, 4, b"").await.unwrap();
    let buffer = client
        .try_get(&[got])
        .await
        .unwrap()
        .pop()
        .flatten()
        .unwrap();
    assert!(matches!(client.list().await, Err(ListError::Protocol(_))));
    store.join().unwrap();
    let (mut store, file) = conn_rx.recv().unwrap();
    assert_eq!(
        store.peer(Duration::ZERO),
        Peer::Open,
        "the connection closed while a buffer and a builder live"
    );

    // Every later call fails at once, and nothing reaches the socket.
    assert!(matches!(
        promptly(client.contains(got)).await,
        Err(ContainsError::Disconnected)
    ));
    assert!(matches!(
        promptly(client.try_get(&[got])).await,
        Err(GetError::Disconnected)
    ));
    assert!(matches!(
        promptly(client.as_future(got)).await,
        Err(AsFutureError::Disconnected)
    ));
    assert!(matches!(
        promptly(client.create(got, 1, b"")).await,
        Err(CreateError::Disconnected)
    ));

    // The views stay usable, and each alone keeps the connection: the
    // buffer reads its object, the builder writes its own, which the store
    // still keeps for this connection.
    drop(client);
    assert_eq!(buffer.data(), b"abc");
    drop(buffer);
    assert_eq!(store.peer(Duration::ZERO), Peer::Open, "the builder lives");
    builder.data_mut().copy_from_slice(b"late");
    let mut written = [0u8; 4];
    file.read_exact_at(&mut written, 0).unwrap();
    assert_eq!(&written, b"late");

    let sealed = promptly(builder.seal()).await;
    assert!(matches!(sealed, Err(SealError::Disconnected)));
    assert_eq!(
        store.peer(Duration::from_secs(10)),
        Peer::Closed,
        "the last view is gone: the socket closes, with nothing written"
    );
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
