// go_bench.go — the Go peer of coop_bench (bench/core.cpp) for bench/compare.py.
//
// The same workloads as coop's, written as a Go programmer writes them: a goroutine per
// task or connection, channels and sync.WaitGroup, time.Sleep, net.Listen. Standard library
// only. compare.py runs it twice: with GOMAXPROCS=1 (one thread runs Go code, as coop's
// one loop) and with GOMAXPROCS = the number of cores (Go's default: goroutines spread over
// every core, which is what a Go user gets without asking).
//
//	go_bench spawn N | pingpong N | suspended N | timers N | echo-server
//
// Why each workload is the equivalent of coop's:
//
//	spawn      coop gathers N Task<int> that co_return at once. Go has no gather; the idiom
//	           is a goroutine per item writing its result into a slice and a WaitGroup
//	           waited on (the gather). Per task: a goroutine made, scheduled, run to its
//	           end, its result delivered, its completion counted; the sum is checked.
//	pingpong   coop's two players loop "wait my Event, clear it, set theirs". In Go the
//	           turn is handed over an unbuffered channel each way: a receive parks the
//	           goroutine, the other side's send wakes it. Every switch is one goroutine
//	           parking and the other resuming through the scheduler.
//	suspended  coop parks N create_task'ed tasks on one Event. Here N goroutines all
//	           receive from ONE channel that is closed to wake them (Go's broadcast). The
//	           growth of RssAnon from just before they start to the moment all are parked,
//	           / N, is what a parked goroutine costs: its stack (2 KiB to start) and its g.
//	timers     coop: 1,000 tasks x N/1,000 sleep(1ns). Here 1,000 goroutines, each calling
//	           time.Sleep(time.Nanosecond) N/1,000 times. A sleep of more than 0 sets a
//	           timer on the runtime's heap (Go shortcuts only d <= 0), due at once, and
//	           parks the goroutine until the scheduler finds it due.
//	echo-server  a goroutine per accepted connection with a 1 KiB buffer: Read, then Write
//	           what was read, as coop's echo_connection. Blocking calls; Go's netpoller
//	           parks the goroutine on epoll underneath.
//
// Timed workloads run once unmeasured first (warm-up: heap, goroutine free lists, caches;
// spawn at N, the others at N/10), then at N; suspended runs once, cold. Output: one JSON
// line on stdout. Failure: one line on stderr, exit 1; bad usage: exit 2.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const prog = "go_bench"

// Full sizes, as coop_bench runs them.
var defaultN = map[string]int{"spawn": 100_000, "pingpong": 1_000_000, "suspended": 100_000, "timers": 1_000_000}
var units = map[string]string{"spawn": "ns/task", "pingpong": "ns/switch", "suspended": "B/task", "timers": "ns/timer"}

const timerTasks = 1000 // goroutines taking turns at the timers, as in coop's timers workload

// ---- memory -------------------------------------------------------------------------------

// rssAnon is the anonymous resident memory in bytes (where goroutine stacks and the heap
// live), from /proc; where there is no /proc (macOS), the peak resident size from getrusage,
// whose growth is the same thing for a workload that only grows.
func rssAnon() (float64, error) {
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if line := s.Text(); strings.HasPrefix(line, "RssAnon:") {
				kb, err := strconv.ParseFloat(strings.Fields(line)[1], 64)
				return kb * 1024, err
			}
		}
		return 0, errors.New("no RssAnon in /proc/self/status")
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	if runtime.GOOS == "darwin" {
		return float64(ru.Maxrss), nil // bytes there
	}
	return float64(ru.Maxrss) * 1024, nil // kilobytes elsewhere
}

// ---- spawn + complete + gather --------------------------------------------------------------

func spawnOnce(n int) (float64, error) {
	t0 := time.Now()
	results := make([]int, n)
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			results[i] = i
			wg.Done()
		}(i)
	}
	wg.Wait()
	sum := 0
	for _, r := range results {
		sum += r
	}
	ns := float64(time.Since(t0).Nanoseconds())
	if sum != n*(n-1)/2 {
		return 0, errors.New("spawn: wrong sum of results")
	}
	return ns / float64(n), nil
}

// ---- ping-pong through channels -------------------------------------------------------------

func player(myTurn <-chan struct{}, theirTurn chan<- struct{}, rounds int, first bool, done *sync.WaitGroup) {
	defer done.Done()
	for r := 0; r < rounds; r++ {
		if !(first && r == 0) { // the first player starts without waiting
			<-myTurn
		}
		theirTurn <- struct{}{}
	}
	if !first {
		return
	}
	<-myTurn // the other's last hand-over
}

func pingpongOnce(switches int) float64 {
	rounds := switches / 2
	ping, pong := make(chan struct{}), make(chan struct{})
	var done sync.WaitGroup
	done.Add(2)
	t0 := time.Now()
	go player(ping, pong, rounds, true, &done)
	go player(pong, ping, rounds, false, &done)
	done.Wait()
	return float64(time.Since(t0).Nanoseconds()) / float64(2*rounds)
}

// ---- many parked goroutines -----------------------------------------------------------------

func suspended(n int) (float64, error) {
	runtime.GC() // start from a collected heap: the growth is then the goroutines'
	var parked, finished atomic.Int64
	goSignal := make(chan struct{})
	var done sync.WaitGroup
	done.Add(n)
	rss0, err := rssAnon()
	if err != nil {
		return 0, err
	}
	for i := 0; i < n; i++ {
		go func() {
			parked.Add(1)
			<-goSignal
			finished.Add(1)
			done.Done()
		}()
	}
	// Every goroutine has run to its receive: the count says it got there; yielding lets the
	// last ones, counted but not yet blocked, block (they have nothing else to do first).
	for parked.Load() != int64(n) {
		runtime.Gosched()
	}
	runtime.Gosched()
	rss1, err := rssAnon()
	if err != nil {
		return 0, err
	}
	if finished.Load() != 0 {
		return 0, errors.New("suspended: a goroutine finished before the signal")
	}
	close(goSignal)
	done.Wait()
	if finished.Load() != int64(n) {
		return 0, fmt.Errorf("suspended: %d of %d goroutines finished", finished.Load(), n)
	}
	return (rss1 - rss0) / float64(n), nil
}

// ---- timers set and fired -------------------------------------------------------------------

func timerShape(n int) (tasks, perTask int) {
	tasks = timerTasks
	if n < tasks {
		tasks = n
	}
	return tasks, n / tasks
}

func timersOnce(n int) float64 {
	tasks, perTask := timerShape(n)
	var done sync.WaitGroup
	done.Add(tasks)
	t0 := time.Now()
	for t := 0; t < tasks; t++ {
		go func() {
			for i := 0; i < perTask; i++ {
				time.Sleep(time.Nanosecond)
			}
			done.Done()
		}()
	}
	done.Wait()
	return float64(time.Since(t0).Nanoseconds()) / float64(tasks*perTask)
}

// ---- echo server ----------------------------------------------------------------------------

func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 1024)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return // a reset or a broken pipe ends this connection, quietly
			}
		}
		if err != nil {
			return // io.EOF: the client closed; anything else: the same, quietly
		}
	}
}

func echoServer() error {
	// 10,000 connections need 10,000 descriptors: the soft limit goes up to the hard one
	// (Go >= 1.19 does this itself at start-up; said here so the reader sees it).
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // backlog: the kernel's somaxconn, as Go does
	if err != nil {
		return err
	}
	fmt.Printf("PORT %d\n", ln.Addr().(*net.TCPAddr).Port)
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				time.Sleep(time.Millisecond) // out of descriptors for a moment: try again
				continue
			}
			return err
		}
		go echo(c)
	}
}

// ---- command line ---------------------------------------------------------------------------

const usage = "usage: " + prog + " spawn|pingpong|suspended|timers [N] | echo-server"

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func parse(args []string) (string, int, error) {
	if len(args) == 0 {
		return "", 0, usageError{usage}
	}
	workload, rest := args[0], args[1:]
	if workload == "echo-server" {
		if len(rest) != 0 {
			return "", 0, usageError{"echo-server takes no N"}
		}
		return workload, 0, nil
	}
	n, known := defaultN[workload]
	if !known {
		return "", 0, usageError{fmt.Sprintf("unknown workload '%s'; %s", workload, usage)}
	}
	if len(rest) > 1 {
		return "", 0, usageError{usage}
	}
	if len(rest) == 1 {
		v, err := strconv.Atoi(rest[0])
		least := 1
		if workload == "pingpong" {
			least = 2
		}
		if err != nil || v < least {
			return "", 0, usageError{fmt.Sprintf("bad N '%s': a positive integer, at least %d for %s", rest[0], least, workload)}
		}
		n = v
	}
	return workload, n, nil
}

type result struct {
	Workload string  `json:"workload"`
	N        int     `json:"n"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	Note     string  `json:"note,omitempty"`
}

func measure(workload string, n int) (result, error) {
	var value float64
	var err error
	switch workload {
	case "spawn":
		if _, err = spawnOnce(n); err == nil { // warm-up at full size
			value, err = spawnOnce(n)
		}
	case "pingpong":
		n -= n % 2 // whole rounds
		pingpongOnce(max(2, n/10))
		value = pingpongOnce(n)
	case "suspended":
		value, err = suspended(n)
	case "timers":
		tasks, perTask := timerShape(n)
		n = tasks * perTask
		timersOnce(max(1, n/10))
		value = timersOnce(n)
	}
	r := result{Workload: workload, N: n, Value: float64(int64(value*10+0.5)) / 10, Unit: units[workload]}
	if p := runtime.GOMAXPROCS(0); p > 1 {
		r.Note = fmt.Sprintf("GOMAXPROCS=%d", p)
	}
	return r, err
}

func max(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func main() {
	workload, n, err := parse(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		os.Exit(2)
	}
	if workload == "echo-server" {
		err = echoServer()
	} else {
		var r result
		if r, err = measure(workload, n); err == nil {
			line, _ := json.Marshal(r)
			_, err = io.WriteString(os.Stdout, string(line)+"\n")
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %s: %v\n", prog, workload, err)
		os.Exit(1)
	}
}
