//! The file-store behaviour suite: what every `FileStore` provider must do (the contract in
//! `keel_core::files`). A provider is done when [`files_suite`] passes on it.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use keel_core::files::{bytes_stream, ByteStream, FileStore};
use keel_core::Error;

use crate::random_name;

/// Runs every behaviour against the store `make` returns (called once per behaviour). Each
/// behaviour works under a fresh random prefix and deletes it at the end. Panics, naming the
/// behaviour, on the first failure.
pub async fn files_suite<F>(make: F)
where
    F: Fn() -> BoxFuture<'static, Arc<dyn FileStore>>,
{
    let cases: [(&str, Case); 9] = [
        ("put_get_replace_delete", |s, ns| {
            Box::pin(put_get_replace_delete(s, ns))
        }),
        ("head_tells_size_and_tag", |s, ns| {
            Box::pin(head_tells_size_and_tag(s, ns))
        }),
        ("large_put_streams_in_parts", |s, ns| {
            Box::pin(large_put_streams_in_parts(s, ns))
        }),
        ("ranges", |s, ns| Box::pin(ranges(s, ns))),
        ("failed_stream_stores_nothing", |s, ns| {
            Box::pin(failed_stream_stores_nothing(s, ns))
        }),
        ("empty_file", |s, ns| Box::pin(empty_file(s, ns))),
        ("missing_is_not_found", |s, ns| Box::pin(missing_is_not_found(s, ns))),
        ("delete_prefix_only_that_prefix", |s, ns| {
            Box::pin(delete_prefix_only_that_prefix(s, ns))
        }),
        ("refuses_bad_keys", |s, ns| Box::pin(refuses_bad_keys(s, ns))),
    ];
    for (name, case) in cases {
        let store = make().await;
        let ns = random_name();
        println!("files suite [{}]: {name}", store.name());
        store.ping().await.unwrap_or_else(|e| panic!("[{name}] ping: {e}"));
        case(store.clone(), ns.clone()).await;
        store.delete_prefix(&ns).await.unwrap();
    }
}

type Case = fn(Arc<dyn FileStore>, String) -> BoxFuture<'static, ()>;

/// `size` deterministic bytes in chunks of `chunk` bytes.
pub fn pattern_stream(size: usize, chunk: usize) -> ByteStream {
    let chunks: Vec<keel_core::Result<Bytes>> = (0..size)
        .step_by(chunk.max(1))
        .map(|start| Ok(Bytes::from(pattern(start, (size - start).min(chunk)))))
        .collect();
    futures::stream::iter(chunks).boxed()
}

/// The bytes [`pattern_stream`] yields from offset `start`, `len` of them.
pub fn pattern(start: usize, len: usize) -> Vec<u8> {
    (start..start + len).map(|i| (i % 251) as u8).collect()
}

/// Reads a whole object; also returns how many chunks it came in.
pub async fn read_all(store: &dyn FileStore, key: &str) -> (Vec<u8>, usize) {
    let obj = store.get(key).await.unwrap_or_else(|e| panic!("get {key}: {e}"));
    let chunks: Vec<Bytes> = obj.stream.try_collect().await.unwrap();
    (chunks.concat(), chunks.len())
}

async fn put_get_replace_delete(s: Arc<dyn FileStore>, ns: String) {
    let key = format!("{ns}/rec/a.txt");
    assert_eq!(
        s.put(&key, bytes_stream(Bytes::from_static(b"hello"))).await.unwrap(),
        5
    );
    let obj = s.get(&key).await.unwrap();
    assert_eq!(obj.meta.size, 5);
    assert_eq!(obj.range, 0..5);
    drop(obj);
    assert_eq!(read_all(s.as_ref(), &key).await.0, b"hello");
    s.put(&key, bytes_stream(Bytes::from_static(b"bye"))).await.unwrap();
    assert_eq!(
        read_all(s.as_ref(), &key).await.0,
        b"bye",
        "a put replaces the object whole"
    );
    s.delete(&key).await.unwrap();
    assert!(matches!(s.get(&key).await, Err(Error::NotFound(_))));
    s.delete(&key).await.expect("deleting twice succeeds");
}

async fn head_tells_size_and_tag(s: Arc<dyn FileStore>, ns: String) {
    let key = format!("{ns}/rec/h.bin");
    s.put(&key, pattern_stream(1000, 300)).await.unwrap();
    let first = s.head(&key).await.unwrap();
    assert_eq!(first.size, 1000);
    let tag = first.etag.clone().expect("an entity tag");
    assert!(!tag.is_empty() && !tag.contains('"'), "unquoted tag: {tag}");
    s.put(&key, pattern_stream(999, 300)).await.unwrap();
    let second = s.head(&key).await.unwrap();
    assert_eq!(second.size, 999);
    assert_ne!(second.etag, first.etag, "new content, new tag");
}

async fn large_put_streams_in_parts(s: Arc<dyn FileStore>, ns: String) {
    // Larger than two parts, in odd-sized chunks: the multipart path.
    let size = 12 * 1024 * 1024 + 12345;
    let key = format!("{ns}/rec/big.bin");
    assert_eq!(
        s.put(&key, pattern_stream(size, 64 * 1024 + 7)).await.unwrap(),
        size as u64
    );
    assert_eq!(s.head(&key).await.unwrap().size, size as u64);
    let obj = s.get(&key).await.unwrap();
    let mut offset = 0usize;
    let mut chunks = 0usize;
    let mut stream = obj.stream;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert_eq!(
            chunk.as_ref(),
            pattern(offset, chunk.len()).as_slice(),
            "bytes at {offset}"
        );
        offset += chunk.len();
        chunks += 1;
    }
    assert_eq!(offset, size);
    assert!(chunks > 1, "a large object is read in chunks");
}

async fn ranges(s: Arc<dyn FileStore>, ns: String) {
    let key = format!("{ns}/rec/r.bin");
    s.put(&key, pattern_stream(10_000, 4096)).await.unwrap();
    for range in [0..1, 10..20, 9_000..10_000, 4095..4097] {
        let obj = s.get_range(&key, range.clone()).await.unwrap();
        assert_eq!(obj.meta.size, 10_000, "the whole object's size");
        assert_eq!(obj.range, range);
        let chunks: Vec<Bytes> = obj.stream.try_collect().await.unwrap();
        let want = pattern(range.start as usize, (range.end - range.start) as usize);
        assert_eq!(chunks.concat(), want, "range {range:?}");
    }
}

fn failing(after: usize, chunk: usize) -> ByteStream {
    let good = pattern_stream(after, chunk);
    let bad = futures::stream::once(async { Err(Error::bad_request("the client went away")) });
    good.chain(bad).boxed()
}

async fn failed_stream_stores_nothing(s: Arc<dyn FileStore>, ns: String) {
    for (size, what) in [(1000, "small"), (11 * 1024 * 1024, "multipart")] {
        let key = format!("{ns}/rec/{what}.bin");
        let err = s.put(&key, failing(size, 256 * 1024)).await.unwrap_err();
        assert!(matches!(err, Error::BadRequest { .. }), "the stream's own error: {err}");
        assert!(
            matches!(s.head(&key).await, Err(Error::NotFound(_))),
            "{what}: nothing stored after a failed stream"
        );
        // The old object survives a failed replacement.
        s.put(&key, bytes_stream(Bytes::from_static(b"old"))).await.unwrap();
        s.put(&key, failing(size, 256 * 1024)).await.unwrap_err();
        assert_eq!(read_all(s.as_ref(), &key).await.0, b"old", "{what}: old bytes kept");
    }
}

async fn empty_file(s: Arc<dyn FileStore>, ns: String) {
    let key = format!("{ns}/rec/empty");
    assert_eq!(s.put(&key, futures::stream::empty().boxed()).await.unwrap(), 0);
    assert_eq!(s.head(&key).await.unwrap().size, 0);
    assert!(read_all(s.as_ref(), &key).await.0.is_empty());
}

async fn missing_is_not_found(s: Arc<dyn FileStore>, ns: String) {
    let key = format!("{ns}/rec/none.txt");
    assert!(matches!(s.get(&key).await, Err(Error::NotFound(_))));
    assert!(matches!(s.head(&key).await, Err(Error::NotFound(_))));
    assert!(matches!(s.get_range(&key, 0..1).await, Err(Error::NotFound(_))));
    s.delete(&key).await.unwrap();
    s.delete_prefix(&format!("{ns}/nothing/here")).await.unwrap();
}

async fn delete_prefix_only_that_prefix(s: Arc<dyn FileStore>, ns: String) {
    let put = |k: String, v: &'static [u8]| {
        let s = s.clone();
        async move { s.put(&k, bytes_stream(Bytes::from_static(v))).await.unwrap() }
    };
    put(format!("{ns}/r1/a.txt"), b"1").await;
    put(format!("{ns}/r1/thumbs_a.txt/10x10_a.txt"), b"2").await;
    put(format!("{ns}/r10/a.txt"), b"3").await;
    s.delete_prefix(&format!("{ns}/r1")).await.unwrap();
    assert!(matches!(
        s.head(&format!("{ns}/r1/a.txt")).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.head(&format!("{ns}/r1/thumbs_a.txt/10x10_a.txt")).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        read_all(s.as_ref(), &format!("{ns}/r10/a.txt")).await.0,
        b"3",
        "r10 is not under r1/"
    );
}

async fn refuses_bad_keys(s: Arc<dyn FileStore>, _ns: String) {
    for key in ["", "/abs", "a/../b", "a//b", "..", "a\\b"] {
        assert!(
            matches!(
                s.put(key, bytes_stream(Bytes::new())).await,
                Err(Error::BadRequest { .. })
            ),
            "{key:?}"
        );
        assert!(s.get(key).await.is_err(), "{key:?}");
        assert!(s.delete(key).await.is_err(), "{key:?}");
    }
}
