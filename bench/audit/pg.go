package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for the baselines
)

// createDatabase creates an empty database named after prefix on the server
// at serverURL and returns its URL and a function that drops it.
func createDatabase(ctx context.Context, serverURL, prefix string) (dbURL string, drop func() error, err error) {
	admin, err := sql.Open("pgx", serverURL)
	if err != nil {
		return "", nil, fmt.Errorf("open server: %w", err)
	}
	admin.SetMaxOpenConns(1)
	var b [4]byte
	rand.Read(b[:])
	name := prefix + "_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("server URL: %w", err)
	}
	u.Path = "/" + name
	drop = func() error {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	return u.String(), drop, nil
}

// openPool opens a database/sql pool over pgx with n connections.
func openPool(ctx context.Context, dbURL string, n int) (*sql.DB, error) {
	pool, err := sql.Open("pgx", dbURL)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	pool.SetMaxOpenConns(n)
	pool.SetMaxIdleConns(n)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping: %w", err)
	}
	return pool, nil
}

// serverStats is a snapshot of counters that explain a variant's cost: the
// cluster's WAL statistics, the machine's CPU time and this process's.
// pg_stat_wal is cluster-wide and backends flush their counters about once a
// second, so over a window of several seconds the deltas are close, and
// include whatever else the server was doing.
type serverStats struct {
	at         time.Time
	walRecords int64
	walFPI     int64
	walBytes   int64
	walWrite   int64
	walSync    int64
	cpuBusy    time.Duration // all CPUs, not idle or waiting for I/O
	selfCPU    time.Duration // this process, user + system
	// backends is the CPU time of each server process connected to the
	// benchmark's database: unlike cpuBusy, it does not count what other
	// users of the machine are doing.
	backends map[int]time.Duration
}

const (
	selectWALStats = `SELECT wal_records, wal_fpi, wal_bytes::bigint, wal_write, wal_sync FROM pg_stat_wal`
	selectBackends = `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`
)

// ticksPerSecond is USER_HZ, the unit of /proc CPU times on Linux.
const ticksPerSecond = 100

// processCPU returns the user + system CPU time of process pid from
// /proc/<pid>/stat, where the server runs on this machine.
func processCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name is in parentheses and may hold spaces: the fields
	// that follow it start with the state (field 3); utime and stime are
	// fields 14 and 15.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+k) * time.Second / ticksPerSecond, true
}

func snapshot(ctx context.Context, admin *sql.DB) (serverStats, error) {
	s := serverStats{at: time.Now()}
	if err := admin.QueryRowContext(ctx, selectWALStats).Scan(&s.walRecords, &s.walFPI, &s.walBytes, &s.walWrite, &s.walSync); err != nil {
		return s, fmt.Errorf("pg_stat_wal: %w", err)
	}
	s.cpuBusy = machineBusy()
	rows, err := admin.QueryContext(ctx, selectBackends)
	if err != nil {
		return s, fmt.Errorf("pg_stat_activity: %w", err)
	}
	defer rows.Close()
	s.backends = map[int]time.Duration{}
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return s, fmt.Errorf("pg_stat_activity: %w", err)
		}
		if cpu, ok := processCPU(pid); ok {
			s.backends[pid] = cpu
		}
	}
	if err := rows.Err(); err != nil {
		return s, fmt.Errorf("pg_stat_activity: %w", err)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		s.selfCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return s, nil
}

// machineBusy returns the CPU time all CPUs spent neither idle nor waiting
// for I/O since boot, from /proc/stat (0 where there is none).
func machineBusy() time.Duration {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 6 || fields[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range fields[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0
		}
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already counted in user
			break
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / ticksPerSecond
}

// costs is what a variant's window cost, per transaction.
type costs struct {
	walBytesPerTx   float64
	walRecordsPerTx float64
	fpiPerTx        float64
	txPerSync       float64       // group commit: transactions per WAL flush
	cpuPerTx        time.Duration // the whole machine, other users included
	serverCPUPerTx  time.Duration // the benchmark database's server processes
	clientCPUPerTx  time.Duration // this process
	machineBusy     float64       // CPUs busy on average during the window
}

func costsOf(before, after serverStats, tx int64) costs {
	if tx == 0 {
		return costs{}
	}
	t := float64(tx)
	c := costs{
		walBytesPerTx:   float64(after.walBytes-before.walBytes) / t,
		walRecordsPerTx: float64(after.walRecords-before.walRecords) / t,
		fpiPerTx:        float64(after.walFPI-before.walFPI) / t,
		cpuPerTx:        (after.cpuBusy - before.cpuBusy) / time.Duration(tx),
		clientCPUPerTx:  (after.selfCPU - before.selfCPU) / time.Duration(tx),
	}
	var server time.Duration
	for pid, cpu := range after.backends {
		server += cpu - before.backends[pid] // a process that started in the window counts in full
	}
	c.serverCPUPerTx = server / time.Duration(tx)
	if syncs := after.walSync - before.walSync; syncs > 0 {
		c.txPerSync = t / float64(syncs)
	}
	if wall := after.at.Sub(before.at); wall > 0 {
		c.machineBusy = float64(after.cpuBusy-before.cpuBusy) / float64(wall)
	}
	return c
}
