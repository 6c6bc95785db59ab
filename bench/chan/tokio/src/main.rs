//! Tokio's side of bench/chan: the channel, select and mutex microbenchmarks of
//! weft_chan_bench, with the same operation counts and checks. One line per run:
//! bench=<name> impl=tokio threads=<n> ops=<N> seconds=<t> ns_per_op=<x> peak_rss_kb=<k>
//! threads=1 is the current_thread runtime, more is the multi-thread runtime.
//! Channels are tokio::sync::mpsc (bounded, capacity 128). It has a single
//! receiver, so chan_mpmc's four consumers share it through a
//! tokio::sync::Mutex, the usual way to fan out an mpsc channel in Tokio.
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Mutex};

const CHAN_OPS: u64 = 2_000_000; // values through the channel(s)
const MUTEX_OPS: u64 = 1_000_000; // lock/unlock pairs, all tasks together
const CAPACITY: usize = 128;
const PEERS: u64 = 4; // producers (and consumers) of mpsc/mpmc, tasks of mutex

fn sum_below(n: u64) -> u64 {
    n * (n - 1) / 2
}

fn runtime(threads: usize) -> tokio::runtime::Runtime {
    if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .build()
            .unwrap()
    }
}

async fn produce(tx: mpsc::Sender<u64>, from: u64, to: u64, stride: u64) {
    let mut v = from;
    while v < to {
        tx.send(v).await.unwrap();
        v += stride;
    }
}

async fn channel_run(producers: u64, consumers: u64) -> Duration {
    let (tx, rx) = mpsc::channel::<u64>(CAPACITY);
    let t0 = Instant::now();
    for p in 0..producers {
        tokio::spawn(produce(tx.clone(), p, CHAN_OPS, producers));
    }
    drop(tx); // the channel closes when the last producer finishes
    let sum = if consumers == 1 {
        let mut rx = rx;
        let mut sum = 0u64;
        while let Some(v) = rx.recv().await {
            sum += v;
        }
        sum
    } else {
        let rx = Arc::new(Mutex::new(rx));
        let hs: Vec<_> = (0..consumers)
            .map(|_| {
                let rx = rx.clone();
                tokio::spawn(async move {
                    let mut sum = 0u64;
                    while let Some(v) = rx.lock().await.recv().await {
                        sum += v;
                    }
                    sum
                })
            })
            .collect();
        let mut sum = 0u64;
        for h in hs {
            sum += h.await.unwrap();
        }
        sum
    };
    let d = t0.elapsed();
    assert_eq!(sum, sum_below(CHAN_OPS), "wrong sum of values received");
    d
}

async fn select2() -> Duration {
    let (txa, mut a) = mpsc::channel::<u64>(CAPACITY);
    let (txb, mut b) = mpsc::channel::<u64>(CAPACITY);
    let t0 = Instant::now();
    tokio::spawn(produce(txa, 0, CHAN_OPS, 2));
    tokio::spawn(produce(txb, 1, CHAN_OPS, 2));
    let mut sum = 0u64;
    let (mut a_open, mut b_open) = (true, true);
    while a_open && b_open {
        tokio::select! {
            v = a.recv() => match v { Some(v) => sum += v, None => a_open = false },
            v = b.recv() => match v { Some(v) => sum += v, None => b_open = false },
        }
    }
    let rest = if a_open { &mut a } else { &mut b };
    while let Some(v) = rest.recv().await {
        sum += v;
    }
    let d = t0.elapsed();
    assert_eq!(
        sum,
        sum_below(CHAN_OPS),
        "select2: wrong sum of values received"
    );
    d
}

async fn mutex_run() -> Duration {
    let counter = Arc::new(Mutex::new(0u64));
    let t0 = Instant::now();
    let hs: Vec<_> = (0..PEERS)
        .map(|_| {
            let counter = counter.clone();
            tokio::spawn(async move {
                for _ in 0..MUTEX_OPS / PEERS {
                    *counter.lock().await += 1;
                }
            })
        })
        .collect();
    for h in hs {
        h.await.unwrap();
    }
    let d = t0.elapsed();
    assert_eq!(*counter.lock().await, MUTEX_OPS, "mutex: wrong count");
    d
}

fn peak_rss_kb() -> i64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| {
            l.strip_prefix("VmHWM:")?
                .trim()
                .trim_end_matches(" kB")
                .parse()
                .ok()
        })
        .unwrap_or(-1)
}

fn main() {
    let mut bench = String::new();
    let mut threads = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => bench = args.next().unwrap_or_default(),
            "--threads" => threads = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            _ => bench.clear(),
        }
    }
    let usage =
        "usage: chan-tokio --bench chan_spsc|chan_mpsc|chan_mpmc|select2|mutex [--threads N]";
    if threads == 0 {
        eprintln!("{usage}");
        std::process::exit(2);
    }
    let rt = runtime(threads);
    let (ops, d) = match bench.as_str() {
        "chan_spsc" => (
            CHAN_OPS,
            rt.block_on(async { tokio::spawn(channel_run(1, 1)).await.unwrap() }),
        ),
        "chan_mpsc" => (
            CHAN_OPS,
            rt.block_on(async { tokio::spawn(channel_run(PEERS, 1)).await.unwrap() }),
        ),
        "chan_mpmc" => (
            CHAN_OPS,
            rt.block_on(async { tokio::spawn(channel_run(PEERS, PEERS)).await.unwrap() }),
        ),
        "select2" => (
            CHAN_OPS,
            rt.block_on(async { tokio::spawn(select2()).await.unwrap() }),
        ),
        "mutex" => (
            MUTEX_OPS,
            rt.block_on(async { tokio::spawn(mutex_run()).await.unwrap() }),
        ),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let secs = d.as_secs_f64();
    println!(
        "bench={} impl=tokio threads={} ops={} seconds={:.4} ns_per_op={:.1} peak_rss_kb={}",
        bench,
        threads,
        ops,
        secs,
        secs * 1e9 / ops as f64,
        peak_rss_kb()
    );
}
