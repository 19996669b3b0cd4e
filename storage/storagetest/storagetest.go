// Package storagetest is the contract every storage.Store backend passes.
// A backend's tests call Run with a constructor for fresh, empty stores, and
// its benchmarks call BenchPut.
//
// The corruption test needs to damage a stored object, which no Store method
// can do; a backend provides that by implementing Corrupter, in a _test.go
// file of its own package so the hook never ships.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/storage"
)

// Corrupter is implemented by a store under test that can change the bytes
// stored under a key (keeping the key and, preferably, the size), the way
// bit rot or a tampering administrator would. Run fails if the store does
// not implement it. It is only called for objects of at most 1 MiB.
type Corrupter interface {
	Corrupt(ctx context.Context, key string) error
}

// Sizes used by the suite. bigSize exceeds the part size of multipart
// backends several times over; partPlus crosses one part boundary (16 MiB
// is the s3 backend's part size).
const (
	bigSize      = 64 << 20
	partPlus     = 16<<20 + 4321
	memoryBudget = 48 << 20 // allowed heap growth while putting bigSize bytes
)

// Run runs the contract against stores made by newStore, which must return a
// fresh, empty store each time it is called (a subtest calls it once).
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"IdempotentPut", testIdempotentPut},
		{"Empty", testEmpty},
		{"Large", testLarge},
		{"Stat", testStat},
		{"Missing", testMissing},
		{"InvalidKeys", testInvalidKeys},
		{"Corruption", testCorruption},
		{"Delete", testDelete},
		{"ConcurrentPut", testConcurrentPut},
		{"ReaderError", testReaderError},
		{"CancelledContext", testCancelledContext},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// RandomReader returns n bytes of deterministic pseudo-random data for seed,
// generated as it is read, so tests can stream objects of any size.
func RandomReader(seed uint64, n int64) io.Reader {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	return io.LimitReader(rand.NewChaCha8(key), n)
}

// randomObject returns the Object that RandomReader(seed, n) must produce.
func randomObject(t testing.TB, seed uint64, n int64) storage.Object {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, RandomReader(seed, n)); err != nil {
		t.Fatal(err)
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return storage.ObjectOf(sum, n)
}

func randomBytes(t testing.TB, seed uint64, n int) []byte {
	t.Helper()
	b, err := io.ReadAll(RandomReader(seed, int64(n)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func put(t testing.TB, s storage.Store, r io.Reader) storage.Object {
	t.Helper()
	obj, err := s.Put(context.Background(), r)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	return obj
}

// readAll reads a small object whole; the integrity check is part of it.
func readAll(t testing.TB, s storage.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%s): read: %v", key, err)
	}
	return b
}

// wantCode fails the test unless err carries the trial code and matches
// sentinel.
func wantCode(t testing.TB, what string, err error, code string, sentinel error) {
	t.Helper()
	if got := trialgate.ErrorCode(err); got != code || !errors.Is(err, sentinel) {
		t.Errorf("%s: error %v (code %q), want code %q and errors.Is %v", what, err, got, code, sentinel)
	}
}

func testRoundTrip(t *testing.T, s storage.Store) {
	for i, n := range []int{1, 1000, 1<<20 + 7} {
		data := randomBytes(t, uint64(i), n)
		want := storage.ObjectOf(sha256.Sum256(data), int64(n))
		got := put(t, s, bytes.NewReader(data))
		if got != want {
			t.Errorf("Put(%d bytes) = %+v, want %+v", n, got, want)
		}
		if back := readAll(t, s, got.Key); !bytes.Equal(back, data) {
			t.Errorf("Get(%d bytes) returned %d different bytes", n, len(back))
		}
	}
}

func testIdempotentPut(t *testing.T, s storage.Store) {
	data := randomBytes(t, 1, 200<<10)
	first := put(t, s, bytes.NewReader(data))
	second := put(t, s, bytes.NewReader(data))
	if first != second {
		t.Errorf("second Put = %+v, want %+v", second, first)
	}
	if back := readAll(t, s, second.Key); !bytes.Equal(back, data) {
		t.Error("Get after second Put returned different bytes")
	}
}

func testEmpty(t *testing.T, s storage.Store) {
	want := storage.ObjectOf(sha256.Sum256(nil), 0)
	got := put(t, s, bytes.NewReader(nil))
	if got != want {
		t.Errorf("Put(empty) = %+v, want %+v", got, want)
	}
	if st, err := s.Stat(context.Background(), want.Key); err != nil || st != want {
		t.Errorf("Stat(empty) = %+v, %v; want %+v", st, err, want)
	}
	if back := readAll(t, s, want.Key); len(back) != 0 {
		t.Errorf("Get(empty) returned %d bytes", len(back))
	}
}

// testLarge puts an object larger than any part or buffer, generated on the
// fly, and checks both the bytes and that the store's memory did not grow
// with it.
func testLarge(t *testing.T, s storage.Store) {
	ctx := context.Background()
	want := randomObject(t, 64, bigSize)

	m := &memSampler{r: RandomReader(64, bigSize), every: 8 << 20}
	m.start()
	got, err := s.Put(ctx, m)
	if err != nil {
		t.Fatalf("Put(%d bytes): %v", bigSize, err)
	}
	if got != want {
		t.Fatalf("Put(%d bytes) = %+v, want %+v", bigSize, got, want)
	}
	if growth := m.maxGrowth(); growth > memoryBudget {
		t.Errorf("heap grew by %d MiB while putting a %d MiB object (budget %d MiB): Put must stream",
			growth>>20, bigSize>>20, memoryBudget>>20)
	} else {
		t.Logf("heap growth during %d MiB Put: %.1f MiB", bigSize>>20, float64(growth)/(1<<20))
	}

	rc, err := s.Get(ctx, got.Key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		t.Fatalf("Get: read after %d bytes: %v", n, err)
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	if back := storage.ObjectOf(sum, n); back != want {
		t.Errorf("Get returned %+v, want %+v", back, want)
	}
}

// memSampler passes reads through and, every so many bytes, measures the
// live heap, so a store that buffers a whole object is caught while it does.
type memSampler struct {
	r        io.Reader
	every    int64
	n, next  int64
	baseline uint64
	max      uint64
}

// liveHeap returns the bytes reachable on the heap. Two collections, because
// buffers parked in a sync.Pool survive the first one.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func (m *memSampler) start() {
	m.baseline = liveHeap()
	m.max = m.baseline
	m.next = m.every
}

func (m *memSampler) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.n += int64(n)
	if m.n >= m.next || err == io.EOF {
		m.next += m.every
		m.max = max(m.max, liveHeap())
	}
	return n, err
}

func (m *memSampler) maxGrowth() uint64 { return m.max - m.baseline }

func testStat(t *testing.T, s storage.Store) {
	data := randomBytes(t, 2, 12345)
	want := put(t, s, bytes.NewReader(data))
	got, err := s.Stat(context.Background(), want.Key)
	if err != nil || got != want {
		t.Errorf("Stat = %+v, %v; want %+v", got, err, want)
	}
}

func testMissing(t *testing.T, s storage.Store) {
	ctx := context.Background()
	key := storage.Key(sha256.Sum256([]byte("never stored")))
	rc, err := s.Get(ctx, key)
	if err == nil {
		rc.Close()
	}
	wantCode(t, "Get(missing)", err, trialgate.ENotFound, storage.ErrNotFound)
	_, err = s.Stat(ctx, key)
	wantCode(t, "Stat(missing)", err, trialgate.ENotFound, storage.ErrNotFound)
}

func testInvalidKeys(t *testing.T, s storage.Store) {
	ctx := context.Background()
	// A real object, so an implementation that resolves a bad key to it
	// (by cleaning a path, say) is caught.
	obj := put(t, s, bytes.NewReader([]byte("target")))
	h := obj.SHA256
	for _, key := range []string{
		"",
		h,
		"sha256/" + h,
		"sha256//" + h,
		"sha256/" + h[:2] + "/" + h[:63],
		"sha256/" + h[:2] + "/" + h + "0",
		"sha256/" + h[:2] + "/" + h + "/",
		"/" + obj.Key,
		obj.Key + "/",
		"./" + obj.Key,
		"sha256/" + h[:2] + "/../" + h[:2] + "/" + h[:60],
		"sha256/../../../../../../etc/passwd",
		"../" + obj.Key,
		"sha256/zz/" + h,
		"sha256/" + flipShard(h) + "/" + h,
		"SHA256/" + h[:2] + "/" + h,
		"sha256/" + h[:2] + "/" + toUpper(h),
		"sha512/" + h[:2] + "/" + h,
		"sha256\\" + h[:2] + "\\" + h,
		"sha256/" + h[:2] + "/" + h[:63] + "\x00",
		"tmp/" + h,
	} {
		rc, err := s.Get(ctx, key)
		if err == nil {
			rc.Close()
		}
		wantCode(t, fmt.Sprintf("Get(%q)", key), err, trialgate.EInvalid, storage.ErrInvalidKey)
		_, err = s.Stat(ctx, key)
		wantCode(t, fmt.Sprintf("Stat(%q)", key), err, trialgate.EInvalid, storage.ErrInvalidKey)
		err = s.Delete(ctx, key)
		wantCode(t, fmt.Sprintf("Delete(%q)", key), err, trialgate.EInvalid, storage.ErrInvalidKey)
	}
	if _, err := s.Stat(ctx, obj.Key); err != nil {
		t.Errorf("object gone after invalid deletes: %v", err)
	}
}

// flipShard returns a two-digit shard that is valid hex but not h's own.
func flipShard(h string) string {
	if h[:2] == "00" {
		return "01"
	}
	return "00"
}

func toUpper(h string) string {
	b := []byte(h)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func testCorruption(t *testing.T, s storage.Store) {
	c, ok := s.(Corrupter)
	if !ok {
		t.Fatalf("%T does not implement storagetest.Corrupter: corruption detection is untested", s)
	}
	ctx := context.Background()
	data := randomBytes(t, 3, 100<<10)
	obj := put(t, s, bytes.NewReader(data))
	if err := c.Corrupt(ctx, obj.Key); err != nil {
		t.Fatalf("Corrupt: %v", err)
	}
	rc, err := s.Get(ctx, obj.Key)
	if err != nil {
		// Failing early is fine too, as long as it says why.
		wantCode(t, "Get(corrupt)", err, trialgate.EInternal, storage.ErrCorrupt)
		return
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	wantCode(t, "reading a corrupt object", err, trialgate.EInternal, storage.ErrCorrupt)
	// The error is sticky: a caller that retries the read must not get EOF.
	if _, err2 := rc.Read(make([]byte, 1)); !errors.Is(err2, storage.ErrCorrupt) {
		t.Errorf("read after integrity failure = %v, want ErrCorrupt again", err2)
	}
}

func testDelete(t *testing.T, s storage.Store) {
	ctx := context.Background()
	data := randomBytes(t, 4, 5000)
	obj := put(t, s, bytes.NewReader(data))
	if err := s.Delete(ctx, obj.Key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := s.Stat(ctx, obj.Key)
	wantCode(t, "Stat after Delete", err, trialgate.ENotFound, storage.ErrNotFound)
	rc, err := s.Get(ctx, obj.Key)
	if err == nil {
		rc.Close()
	}
	wantCode(t, "Get after Delete", err, trialgate.ENotFound, storage.ErrNotFound)
	if err := s.Delete(ctx, obj.Key); err != nil {
		t.Errorf("Delete of a deleted object = %v, want nil", err)
	}
	if again := put(t, s, bytes.NewReader(data)); again != obj {
		t.Errorf("Put after Delete = %+v, want %+v", again, obj)
	}
	if back := readAll(t, s, obj.Key); !bytes.Equal(back, data) {
		t.Error("Get after re-Put returned different bytes")
	}
}

// testConcurrentPut races writers of identical content, small and spanning
// parts; all must succeed with the same Object and leave it readable.
func testConcurrentPut(t *testing.T, s storage.Store) {
	for _, tc := range []struct {
		size    int64
		writers int
	}{{256 << 10, 8}, {partPlus, 4}} {
		want := randomObject(t, 5, tc.size)
		got := make([]storage.Object, tc.writers)
		errs := make([]error, tc.writers)
		var wg sync.WaitGroup
		for i := range tc.writers {
			wg.Go(func() {
				got[i], errs[i] = s.Put(context.Background(), RandomReader(5, tc.size))
			})
		}
		wg.Wait()
		for i := range tc.writers {
			if errs[i] != nil {
				t.Errorf("%d bytes, writer %d: Put: %v", tc.size, i, errs[i])
			} else if got[i] != want {
				t.Errorf("%d bytes, writer %d: Put = %+v, want %+v", tc.size, i, got[i], want)
			}
		}
		rc, err := s.Get(context.Background(), want.Key)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil || n != tc.size {
			t.Errorf("Get after concurrent Puts: %d bytes, %v; want %d bytes", n, err, tc.size)
		}
	}
}

var errBrokenReader = errors.New("storagetest: reader broke")

// brokenReader yields n bytes, then fails.
type brokenReader struct{ r io.Reader }

func (b brokenReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		err = errBrokenReader
	}
	return n, err
}

// testReaderError checks that a failing input (a client hanging up) fails
// the Put with the reader's error and stores nothing under the key of the
// bytes that did arrive.
func testReaderError(t *testing.T, s storage.Store) {
	ctx := context.Background()
	for _, n := range []int64{1000, partPlus} {
		obj, err := s.Put(ctx, brokenReader{RandomReader(6, n)})
		if !errors.Is(err, errBrokenReader) {
			t.Errorf("Put(reader failing after %d bytes) = %+v, %v; want the reader's error", n, obj, err)
		}
		partial := randomObject(t, 6, n)
		_, err = s.Stat(ctx, partial.Key)
		wantCode(t, fmt.Sprintf("Stat(partial %d bytes)", n), err, trialgate.ENotFound, storage.ErrNotFound)
	}
}

func testCancelledContext(t *testing.T, s storage.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	data := randomBytes(t, 7, 1000)
	if obj, err := s.Put(ctx, bytes.NewReader(data)); err == nil {
		t.Errorf("Put with a cancelled context = %+v, want an error", obj)
	}
	_, err := s.Stat(context.Background(), storage.Key(sha256.Sum256(data)))
	wantCode(t, "Stat after cancelled Put", err, trialgate.ENotFound, storage.ErrNotFound)
}

func testPing(t *testing.T, s storage.Store) {
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

// BenchPut measures Put of fresh (never deduplicated) objects of several
// sizes into s, reporting throughput in bytes per second.
func BenchPut(b *testing.B, s storage.Store) {
	block := randomBytes(b, 99, 1<<20)
	var nonce [8]byte
	binary.LittleEndian.PutUint64(nonce[:], rand.Uint64())
	for _, size := range []int64{64 << 10, 1 << 20, 32 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(size)
			var i uint64
			for b.Loop() {
				i++
				if _, err := s.Put(context.Background(), uniqueReader(nonce, i, block, size)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// uniqueReader returns size bytes that differ from every other (nonce, i):
// a 16-byte prefix, then block repeated. It costs little more than a copy,
// so the benchmark measures the store, not the generator.
func uniqueReader(nonce [8]byte, i uint64, block []byte, size int64) io.Reader {
	var prefix [16]byte
	copy(prefix[:], nonce[:])
	binary.LittleEndian.PutUint64(prefix[8:], i)
	return io.LimitReader(io.MultiReader(bytes.NewReader(prefix[:]), &repeatReader{block: block}), size)
}

type repeatReader struct {
	block []byte
	off   int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := copy(p, r.block[r.off:])
	r.off = (r.off + n) % len(r.block)
	return n, nil
}
