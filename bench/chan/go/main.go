// Go's side of bench/chan: the channel, select and mutex microbenchmarks of
// weft_chan_bench, with the same operation counts and checks. One line per run:
// bench=<name> impl=go threads=<n> ops=<N> seconds=<t> ns_per_op=<x> peak_rss_kb=<k>
// threads is GOMAXPROCS.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

const (
	chanOps  = 2000000 // values through the channel(s)
	mutexOps = 1000000 // lock/unlock pairs, all goroutines together
	capacity = 128
	peers    = 4 // producers (and consumers) of mpsc/mpmc, goroutines of mutex
)

func fail(what string) {
	fmt.Fprintln(os.Stderr, "chan-go:", what)
	os.Exit(1)
}

func sumBelow(n uint64) uint64 { return n * (n - 1) / 2 }

func produce(ch chan<- uint64, from, to, stride uint64) {
	for v := from; v < to; v += stride {
		ch <- v
	}
}

func consume(ch <-chan uint64) uint64 {
	var sum uint64
	for v := range ch {
		sum += v
	}
	return sum
}

// channelRun moves chanOps values from producers to consumers through one channel.
func channelRun(producers, consumers int) time.Duration {
	ch := make(chan uint64, capacity)
	t0 := time.Now()
	sums := make(chan uint64, consumers)
	for c := 1; c < consumers; c++ {
		go func() { sums <- consume(ch) }()
	}
	var wg sync.WaitGroup
	wg.Add(producers)
	for p := 0; p < producers; p++ {
		go func(p int) {
			produce(ch, uint64(p), chanOps, uint64(producers))
			wg.Done()
		}(p)
	}
	go func() {
		wg.Wait()
		close(ch)
	}()
	sum := consume(ch)
	for c := 1; c < consumers; c++ {
		sum += <-sums
	}
	d := time.Since(t0)
	if sum != sumBelow(chanOps) {
		fail("wrong sum of values received")
	}
	return d
}

func select2() time.Duration {
	a, b := make(chan uint64, capacity), make(chan uint64, capacity)
	t0 := time.Now()
	go func() { produce(a, 0, chanOps, 2); close(a) }()
	go func() { produce(b, 1, chanOps, 2); close(b) }()
	var sum uint64
	for a != nil && b != nil {
		select {
		case v, ok := <-a:
			if !ok {
				a = nil
				continue
			}
			sum += v
		case v, ok := <-b:
			if !ok {
				b = nil
				continue
			}
			sum += v
		}
	}
	if a != nil {
		sum += consume(a)
	} else {
		sum += consume(b)
	}
	d := time.Since(t0)
	if sum != sumBelow(chanOps) {
		fail("select2: wrong sum of values received")
	}
	return d
}

func mutexRun() time.Duration {
	var mu sync.Mutex
	var counter uint64
	t0 := time.Now()
	var wg sync.WaitGroup
	wg.Add(peers)
	for t := 0; t < peers; t++ {
		go func() {
			for i := 0; i < mutexOps/peers; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	if counter != mutexOps {
		fail("mutex: wrong count")
	}
	return d
}

func main() {
	bench := flag.String("bench", "", "chan_spsc|chan_mpsc|chan_mpmc|select2|mutex")
	threads := flag.Int("threads", 1, "GOMAXPROCS")
	flag.Parse()
	if *threads < 1 {
		fail("--threads must be at least 1")
	}
	runtime.GOMAXPROCS(*threads)
	ops := uint64(chanOps)
	var d time.Duration
	switch *bench {
	case "chan_spsc":
		d = channelRun(1, 1)
	case "chan_mpsc":
		d = channelRun(peers, 1)
	case "chan_mpmc":
		d = channelRun(peers, peers)
	case "select2":
		d = select2()
	case "mutex":
		ops = mutexOps
		d = mutexRun()
	default:
		fmt.Fprintln(os.Stderr, "usage: chan-go --bench chan_spsc|chan_mpsc|chan_mpmc|select2|mutex [--threads N]")
		os.Exit(2)
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	secs := d.Seconds()
	fmt.Printf("bench=%s impl=go threads=%d ops=%d seconds=%.4f ns_per_op=%.1f peak_rss_kb=%d\n",
		*bench, *threads, ops, secs, secs*1e9/float64(ops), ru.Maxrss)
}
