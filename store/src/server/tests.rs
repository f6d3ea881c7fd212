//! The loop, run in-process on a temp socket and driven by raw sockets.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use plasma_protocol::{decode_reply, fd, Encoder, ObjectId, Reply, Request, HEADER_LEN};

use super::{run, ServerError, Shutdown};
use crate::config::ServerConfig;

const CAPACITY: u64 = 1 << 20;

struct TestServer {
    path: PathBuf,
    shutdown: Shutdown,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    fn start() -> Self {
        Self::start_with(|_| {})
    }

    fn start_with(tune: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plasma.sock");
        let mut config = ServerConfig::new(&path, CAPACITY);
        tune(&mut config);
        let shutdown = Shutdown::new();
        let handle = shutdown.clone();
        let thread = std::thread::spawn(move || run(config, handle));
        let started = Instant::now();
        while !path.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "store did not start"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        TestServer {
            path,
            shutdown,
            thread: Some(thread),
            _dir: dir,
        }
    }

    fn connect(&self) -> UnixStream {
        let s = UnixStream::connect(&self.path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    fn stop(&mut self) -> Result<(), ServerError> {
        self.shutdown.trigger();
        self.thread.take().map_or(Ok(()), |t| t.join().unwrap())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn send(s: &mut UnixStream, req: &Request<'_>) {
    let mut bytes = Vec::new();
    Encoder::new().encode_request(req, &mut bytes);
    s.write_all(&bytes).unwrap();
}

fn read_reply(s: &mut UnixStream) -> Reply {
    let mut header = [0u8; HEADER_LEN];
    s.read_exact(&mut header).unwrap();
    let msg_type = i64::from_le_bytes(header[8..16].try_into().unwrap());
    let len = u64::from_le_bytes(header[16..24].try_into().unwrap());
    let mut payload = vec![0u8; len as usize];
    s.read_exact(&mut payload).unwrap();
    decode_reply(msg_type, &payload).unwrap()
}

fn call(s: &mut UnixStream, req: &Request<'_>) -> Reply {
    send(s, req);
    read_reply(s)
}

/// Reads until EOF; panics if the store does not close within the timeout.
fn assert_closed_by_store(s: &mut UnixStream) {
    let mut sink = Vec::new();
    s.read_to_end(&mut sink)
        .expect("the store should close the connection");
}

#[test]
fn connect_request_is_answered_with_the_capacity() {
    let server = TestServer::start();
    let mut c = server.connect();
    assert_eq!(
        call(&mut c, &Request::Connect),
        Reply::Connect {
            memory_capacity: CAPACITY as i64
        }
    );
}

#[test]
fn socket_file_is_removed_on_shutdown() {
    let mut server = TestServer::start();
    let path = server.path.clone();
    server.stop().unwrap();
    assert!(!path.exists());
}

#[test]
fn garbage_drops_only_the_offending_connection() {
    let server = TestServer::start();
    let mut good = server.connect();
    assert!(matches!(
        call(&mut good, &Request::Connect),
        Reply::Connect { .. }
    ));
    let mut bad = server.connect();
    bad.write_all(&[7u8; 64]).unwrap(); // version 0x0707..., not 0
    assert_closed_by_store(&mut bad);
    let mut reply_only = server.connect();
    let mut frame = vec![0u8; HEADER_LEN];
    frame[8] = 2; // CreateReply: not a request
    reply_only.write_all(&frame).unwrap();
    assert_closed_by_store(&mut reply_only);
    assert!(matches!(
        call(&mut good, &Request::Connect),
        Reply::Connect { .. }
    ));
    let mut fresh = server.connect();
    assert!(matches!(
        call(&mut fresh, &Request::Connect),
        Reply::Connect { .. }
    ));
}

#[test]
fn oversized_frame_header_drops_the_connection() {
    let server = TestServer::start_with(|c| c.max_frame_len = 1024);
    let mut c = server.connect();
    let mut frame = vec![0u8; HEADER_LEN];
    frame[8] = 19;
    frame[16..24].copy_from_slice(&(1u64 << 20).to_le_bytes());
    c.write_all(&frame).unwrap();
    assert_closed_by_store(&mut c);
}

#[test]
fn incomplete_frame_is_dropped_after_the_deadline() {
    let server = TestServer::start_with(|c| c.frame_deadline = Duration::from_millis(200));
    let mut c = server.connect();
    let started = Instant::now();
    c.write_all(&[0u8; 10]).unwrap();
    assert_closed_by_store(&mut c);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[test]
fn create_reply_is_followed_by_the_arena_fd() {
    let server = TestServer::start();
    let mut c = server.connect();
    let id = ObjectId::random();
    let reply = call(
        &mut c,
        &Request::Create {
            id,
            evict_if_full: true,
            data_size: 100,
            metadata_size: 0,
            device_num: 0,
        },
    );
    let Reply::Create {
        store_fd,
        mmap_size,
        ..
    } = reply
    else {
        panic!("unexpected {reply:?}");
    };
    assert_eq!(store_fd, 1);
    let arena = fd::recv_fd(c.as_fd()).unwrap();
    let len = std::fs::File::from(arena).metadata().unwrap().len();
    assert_eq!(len as i64, mmap_size - 8);
    // A second create needs no fd: the next bytes are the reply itself.
    let reply = call(
        &mut c,
        &Request::Create {
            id: ObjectId::random(),
            evict_if_full: true,
            data_size: 10,
            metadata_size: 0,
            device_num: 0,
        },
    );
    assert!(matches!(reply, Reply::Create { .. }), "{reply:?}");
}

#[test]
fn subscriber_gets_seal_notifications() {
    let server = TestServer::start();
    let mut sub = server.connect();
    let (mut notes, theirs) = UnixStream::pair().unwrap();
    notes
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    send(&mut sub, &Request::Subscribe);
    fd::send_fd(sub.as_fd(), theirs.as_fd()).unwrap();
    drop(theirs);
    let mut writer = server.connect();
    let id = ObjectId::random();
    let reply = call(
        &mut writer,
        &Request::CreateAndSeal {
            id,
            evict_if_full: true,
            data: b"data",
            metadata: b"",
            digest: [1; 8],
        },
    );
    assert!(matches!(reply, Reply::CreateAndSeal { .. }), "{reply:?}");
    let mut len = [0u8; 8];
    notes.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; u64::from_le_bytes(len) as usize];
    notes.read_exact(&mut body).unwrap();
    let mut message = len.to_vec();
    message.extend_from_slice(&body);
    let (infos, used) = plasma_protocol::decode_notification(&message, 1 << 20)
        .unwrap()
        .unwrap();
    assert_eq!(used, message.len());
    assert_eq!(infos.len(), 1);
    assert_eq!(infos[0].object_id, id);
    assert_eq!(infos[0].data_size, 4);
    // The subscribing connection still serves requests.
    assert!(matches!(
        call(&mut sub, &Request::Connect),
        Reply::Connect { .. }
    ));
}

#[test]
fn subscribe_without_a_descriptor_drops_the_connection() {
    let server = TestServer::start();
    let mut c = server.connect();
    send(&mut c, &Request::Subscribe);
    c.write_all(&[0x14]).unwrap();
    assert_closed_by_store(&mut c);
}

#[test]
fn frames_behind_a_pending_get_wait_for_its_answer() {
    let server = TestServer::start();
    let mut waiter = server.connect();
    let id = ObjectId::random();
    send(
        &mut waiter,
        &Request::Get {
            ids: vec![id],
            timeout_ms: -1,
        },
    );
    send(&mut waiter, &Request::Contains { id });
    let mut writer = server.connect();
    // Seal only once the get waits, or it would simply find the object.
    let started = Instant::now();
    loop {
        let Reply::DebugString { text } = call(&mut writer, &Request::DebugString) else {
            panic!("expected the debug text");
        };
        if text.lines().any(|l| l == "waiting gets: 1") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{text}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let reply = call(
        &mut writer,
        &Request::CreateAndSeal {
            id,
            evict_if_full: true,
            data: b"x",
            metadata: b"",
            digest: [0; 8],
        },
    );
    assert!(matches!(reply, Reply::CreateAndSeal { .. }), "{reply:?}");
    let get = read_reply(&mut waiter);
    let Reply::Get { objects, .. } = get else {
        panic!("expected the get reply first, got {get:?}");
    };
    assert!(objects[0].is_available());
    fd::recv_fd(waiter.as_fd()).unwrap();
    assert_eq!(
        read_reply(&mut waiter),
        Reply::Contains {
            id,
            has_object: true
        }
    );
}

#[test]
fn get_timeout_is_answered_by_the_timer() {
    let server = TestServer::start();
    let mut c = server.connect();
    let started = Instant::now();
    let reply = call(
        &mut c,
        &Request::Get {
            ids: vec![ObjectId::random()],
            timeout_ms: 150,
        },
    );
    let Reply::Get { objects, .. } = reply else {
        panic!("unexpected {reply:?}");
    };
    assert!(!objects[0].is_available());
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(150), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

#[test]
fn a_client_that_never_reads_is_dropped_at_the_queue_cap() {
    let server = TestServer::start_with(|c| c.queue_cap = 4096);
    let mut c = server.connect();
    let mut frames = Vec::new();
    let mut enc = Encoder::new();
    for _ in 0..50_000 {
        enc.encode_request(&Request::Connect, &mut frames);
    }
    // The store may drop us before it has read everything.
    let _ = c.write_all(&frames);
    assert_closed_by_store(&mut c);
    let mut other = server.connect();
    assert!(matches!(
        call(&mut other, &Request::Connect),
        Reply::Connect { .. }
    ));
}

#[test]
fn a_live_store_is_not_displaced() {
    let server = TestServer::start();
    let config = ServerConfig::new(&server.path, CAPACITY);
    let err = run(config, Shutdown::new()).unwrap_err();
    assert!(err.to_string().contains("already serving"), "{err}");
    let mut c = server.connect();
    assert!(matches!(
        call(&mut c, &Request::Connect),
        Reply::Connect { .. }
    ));
}

#[test]
fn shutdown_before_start_returns_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let shutdown = Shutdown::new();
    shutdown.trigger();
    run(ServerConfig::new(dir.path().join("s"), CAPACITY), shutdown).unwrap();
    assert!(!dir.path().join("s").exists());
}

fn subscribe(c: &mut UnixStream) -> UnixStream {
    let (notes, theirs) = UnixStream::pair().unwrap();
    notes
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    send(c, &Request::Subscribe);
    fd::send_fd(c.as_fd(), theirs.as_fd()).unwrap();
    notes
}

fn seal_new_object(c: &mut UnixStream) -> ObjectId {
    let id = ObjectId::random();
    let reply = call(
        c,
        &Request::CreateAndSeal {
            id,
            evict_if_full: true,
            data: b"abc",
            metadata: b"",
            digest: [2; 8],
        },
    );
    assert!(matches!(reply, Reply::CreateAndSeal { .. }), "{reply:?}");
    id
}

fn read_notification_id(notes: &mut UnixStream) -> ObjectId {
    let mut len = [0u8; 8];
    notes.read_exact(&mut len).unwrap();
    let mut message = len.to_vec();
    message.resize(8 + u64::from_le_bytes(len) as usize, 0);
    notes.read_exact(&mut message[8..]).unwrap();
    let (infos, _) = plasma_protocol::decode_notification(&message, 1 << 20)
        .unwrap()
        .unwrap();
    infos[0].object_id
}

#[test]
fn a_second_subscribe_replaces_the_first_socket() {
    let server = TestServer::start();
    let mut c = server.connect();
    let mut first = subscribe(&mut c);
    let mut second = subscribe(&mut c);
    // Both handed over; the store now holds the only other end of each pair.
    assert!(matches!(
        call(&mut c, &Request::Connect),
        Reply::Connect { .. }
    ));
    let mut writer = server.connect();
    let id = seal_new_object(&mut writer);
    assert_eq!(read_notification_id(&mut second), id);
    let mut rest = Vec::new();
    first.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "the replaced socket got {rest:?}");
}

#[test]
fn a_dead_subscriber_socket_leaves_the_connection_serving() {
    let server = TestServer::start();
    let mut c = server.connect();
    let notes = subscribe(&mut c);
    assert!(matches!(
        call(&mut c, &Request::Connect),
        Reply::Connect { .. }
    ));
    drop(notes);
    let mut writer = server.connect();
    seal_new_object(&mut writer);
    seal_new_object(&mut writer);
    assert!(matches!(
        call(&mut c, &Request::Connect),
        Reply::Connect { .. }
    ));
}

#[test]
fn subscribe_sends_the_backlog_of_sealed_objects() {
    let server = TestServer::start();
    let mut writer = server.connect();
    let id = seal_new_object(&mut writer);
    let mut c = server.connect();
    let mut notes = subscribe(&mut c);
    assert_eq!(read_notification_id(&mut notes), id);
}
