//! `release_free_heap` gives freed heap pages back: the resident anonymous memory drops by
//! most of what was freed. (Its own test binary: no other test allocates meanwhile.)

/// `RssAnon` of this process, KiB.
fn rss_anon_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn freed_heap_pages_go_back_to_the_kernel() {
    // 16 MiB in 16 KiB blocks (under glibc's mmap threshold: they come from the heap), each
    // touched; then all freed but one allocated after them, which pins the heap's top so
    // that free() alone cannot shrink it.
    let blocks: Vec<Vec<u8>> = (0..1024).map(|_| vec![1u8; 16 << 10]).collect();
    let pin = vec![1u8; 16 << 10];
    std::hint::black_box((&blocks, &pin));
    let full = rss_anon_kib();
    drop(std::hint::black_box(blocks));
    let freed = rss_anon_kib();
    assert!(fusionfb_sys::release_free_heap(), "nothing released");
    let trimmed = rss_anon_kib();
    assert!(
        trimmed + 8 * 1024 < freed,
        "RssAnon: {full} KiB full, {freed} KiB freed, {trimmed} KiB trimmed"
    );
    assert_eq!(pin.len(), 16 << 10);
}
