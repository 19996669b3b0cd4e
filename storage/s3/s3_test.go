package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/storage"
	"github.com/trialgate/trialgate/storage/storagetest"
)

// Corrupt implements storagetest.Corrupter by overwriting the object with a
// byte flipped, through the raw client, as a tampering administrator would.
// It lives in a _test file so it never ships.
func (s *Store) Corrupt(ctx context.Context, key string) error {
	o, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer o.Close()
	b, err := io.ReadAll(io.LimitReader(o, 1<<20+1)) // the contract only corrupts small objects
	if err != nil {
		return err
	}
	if len(b) == 0 || len(b) > 1<<20 {
		return errors.New("Corrupt: object empty or larger than 1 MiB")
	}
	b[len(b)/2] ^= 0xff
	_, err = s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{})
	return err
}

// testConfig returns the MinIO the test harness (scripts/test.sh) started.
// Without one the test is skipped, except in CI, where a missing MinIO
// must fail the build rather than pass it silently.
func testConfig(t testing.TB) Config {
	t.Helper()
	cfg := Config{
		Endpoint:  os.Getenv("TRIALGATE_TEST_S3_ENDPOINT"),
		AccessKey: os.Getenv("TRIALGATE_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("TRIALGATE_TEST_S3_SECRET_KEY"),
	}
	if cfg.Endpoint == "" || cfg.AccessKey == "" || cfg.SecretKey == "" {
		const msg = "TRIALGATE_TEST_S3_ENDPOINT, _ACCESS_KEY and _SECRET_KEY must name a MinIO server (scripts/test.sh starts one)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return cfg
}

// newTestStore returns a store on a fresh bucket of its own, emptied and
// removed when the test ends.
func newTestStore(t testing.TB) *Store {
	t.Helper()
	cfg := testConfig(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	cfg.Bucket = "trialgate-test-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { removeBucket(t, s) })
	return s
}

func removeBucket(t testing.TB, s *Store) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for o := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			t.Errorf("cleanup: list %s: %v", s.bucket, o.Err)
			return
		}
		if err := s.client.RemoveObject(ctx, s.bucket, o.Key,
			minio.RemoveObjectOptions{VersionID: o.VersionID, GovernanceBypass: true}); err != nil {
			t.Errorf("cleanup: remove %s: %v", o.Key, err)
		}
	}
	if err := s.client.RemoveBucket(ctx, s.bucket); err != nil {
		t.Errorf("cleanup: remove bucket %s: %v", s.bucket, err)
	}
}

// tmpObjects lists the temporary objects in the store's bucket, and
// every version or delete marker of one that a removal left behind.
func tmpObjects(t testing.TB, s *Store) []string {
	t.Helper()
	var keys []string
	ctx := context.Background()
	for o := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: tmpPrefix, Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			t.Fatalf("list: %v", o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

func TestContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s := newTestStore(t)
		// Registered after the bucket's removal, so it runs before it.
		t.Cleanup(func() {
			for _, k := range tmpObjects(t, s) {
				t.Errorf("temporary object left behind: %s", k)
			}
		})
		return s
	})
}

// TestNewExistingBucket checks that New accepts a bucket that already
// exists, as every replica after the first finds it.
func TestNewExistingBucket(t *testing.T) {
	s := newTestStore(t)
	cfg := testConfig(t)
	cfg.Bucket = s.bucket
	s2, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New on an existing bucket: %v", err)
	}
	if err := s2.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestPingMissingBucket(t *testing.T) {
	s := newTestStore(t)
	cfg := testConfig(t)
	cfg.Bucket = s.bucket + "-gone"
	s2, err := newStore(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	err = s2.Ping(context.Background())
	wantUnavailable(t, "Ping(missing bucket)", err)
}

func TestBadCredentials(t *testing.T) {
	cfg := testConfig(t)
	cfg.Bucket = "trialgate-test-creds"
	cfg.SecretKey += "-wrong"
	_, err := New(context.Background(), cfg)
	if err == nil {
		t.Fatal("New with a wrong secret key succeeded")
	}
	// A misconfiguration needs an operator, not a retry.
	if code := trialgate.ErrorCode(err); code != trialgate.EInternal {
		t.Errorf("New with a wrong secret key: code %q (%v), want %q", code, err, trialgate.EInternal)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Bucket: "b"},
		{Endpoint: "127.0.0.1:9000"},
		{Endpoint: "http://127.0.0.1:9000", Bucket: "b"},
		{Endpoint: "127.0.0.1:9000", Bucket: "b", Retention: "worm"},
		{Endpoint: "127.0.0.1:9000", Bucket: "b", RetainFor: -time.Hour},
	} {
		if _, err := New(context.Background(), cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func wantUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if trialgate.ErrorCode(err) != trialgate.EUnavailable || !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("%s = %v, want code %q", what, err, trialgate.EUnavailable)
	}
}

// TestUnreachable needs no server: nothing listens on port 1.
func TestUnreachable(t *testing.T) {
	cfg := Config{Endpoint: "127.0.0.1:1", Bucket: "trialgate-test", AccessKey: "k", SecretKey: "secret-key"}

	// New with minio-go's default retries, cut short by the deadline the
	// caller would set (a start-up timeout).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := New(ctx, cfg)
	wantUnavailable(t, "New", err)

	s, err := newStore(cfg, 1) // no retries: the answer is immediate
	if err != nil {
		t.Fatal(err)
	}
	ctx = context.Background()
	wantUnavailable(t, "Ping", s.Ping(ctx))
	_, err = s.Put(ctx, bytes.NewReader([]byte("small")))
	wantUnavailable(t, "Put(small)", err)
	_, err = s.Put(ctx, storagetest.RandomReader(1, PartSize+1))
	wantUnavailable(t, "Put(large)", err)
	_, err = s.Get(ctx, storage.Key([32]byte{}))
	wantUnavailable(t, "Get", err)
	_, err = s.Stat(ctx, storage.Key([32]byte{}))
	wantUnavailable(t, "Stat", err)
	wantUnavailable(t, "Delete", s.Delete(ctx, storage.Key([32]byte{})))
}

// TestLargePathUsesTemporaryKey checks the multipart path end to end at the
// bucket level: the content key holds the object, tmp/ is empty again.
func TestLargePathUsesTemporaryKey(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	// A whole number of parts ends on a read of nothing; one byte more
	// ends on a short part.
	for _, size := range []int64{2 * PartSize, 2*PartSize + 1} {
		obj, err := s.Put(ctx, storagetest.RandomReader(uint64(size), size))
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.client.StatObject(ctx, s.bucket, obj.Key, minio.StatObjectOptions{})
		if err != nil || info.Size != obj.Size || obj.Size != size {
			t.Fatalf("content key of %d bytes: %+v, %v", size, info, err)
		}
		if left := tmpObjects(t, s); len(left) != 0 {
			t.Errorf("temporary objects left: %v", left)
		}
	}
}

// A reader failing in the middle of a multipart upload leaves no upload
// behind to hold its parts.
func TestFailedLargePutAbortsUpload(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	broken := io.MultiReader(storagetest.RandomReader(3, PartSize+PartSize/2), iotest.ErrReader(errors.New("client gone")))
	if _, err := s.Put(ctx, broken); err == nil || !strings.Contains(err.Error(), "client gone") {
		t.Fatalf("Put = %v, want the reader's error", err)
	}
	for u := range s.client.ListIncompleteUploads(ctx, s.bucket, tmpPrefix, true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		t.Errorf("upload left behind: %s (%s)", u.Key, u.UploadID)
	}
}

func BenchmarkPut(b *testing.B) {
	storagetest.BenchPut(b, newTestStore(b))
}

// BenchmarkRawPutObject is the yardstick for BenchmarkPut: minio-go's
// PutObject of the same sizes with the length known up front, no hashing,
// no existence check and no server-side copy.
func BenchmarkRawPutObject(b *testing.B) {
	s := newTestStore(b)
	for _, size := range []int64{64 << 10, 1 << 20, 32 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(size)
			var i int
			for b.Loop() {
				i++
				key := fmt.Sprintf("raw/%d/%d", size, i)
				_, err := s.client.PutObject(context.Background(), s.bucket, key,
					storagetest.RandomReader(uint64(i), size), size, minio.PutObjectOptions{PartSize: PartSize})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// versionIDs lists the versions (not delete markers) stored under key.
func versionIDs(t *testing.T, s *Store, key string) []string {
	t.Helper()
	ids, err := s.versions(context.Background(), "test", key, false)
	if err != nil {
		t.Fatalf("versions: %v", err)
	}
	return ids
}

func wantRetained(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, storage.ErrRetained) || trialgate.ErrorCode(err) != trialgate.ELocked {
		t.Errorf("%s = %v, want storage.ErrRetained with code %q", what, err, trialgate.ELocked)
	}
}

// TestGovernanceRetention proves WORM at the store: once retained, the
// object's version cannot be deleted (by the store's Delete nor by a raw
// client without the bypass), an overwrite leaves it intact beside the
// new version (which Get then reports as corrupt), and lifting the
// governance retention lets garbage collection remove it entirely.
func TestGovernanceRetention(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	data := []byte("de-identified instance bytes")
	obj, err := s.Put(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Retain(ctx, obj.Key)
	if err != nil {
		t.Fatalf("Retain: %v", err)
	}
	if want := time.Now().Add(DefaultRetainFor); r.Mode != "GOVERNANCE" || r.Until.Before(want.Add(-time.Minute)) || r.Until.After(want.Add(time.Minute)) {
		t.Errorf("Retain = %+v, want GOVERNANCE until about %s", r, want)
	}
	ids := versionIDs(t, s, obj.Key)
	if len(ids) != 1 {
		t.Fatalf("versions = %v, want one", ids)
	}
	locked := ids[0]

	wantRetained(t, "Delete of a retained object", s.Delete(ctx, obj.Key))
	if err := s.client.RemoveObject(ctx, s.bucket, obj.Key, minio.RemoveObjectOptions{VersionID: locked}); err == nil {
		t.Fatal("a raw delete of the retained version succeeded")
	}
	// An administrator's overwrite adds a version; the retained one stays.
	forged := []byte("forged instance bytes!!")
	if _, err := s.client.PutObject(ctx, s.bucket, obj.Key, bytes.NewReader(forged), int64(len(forged)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("raw overwrite: %v", err)
	}
	o, err := s.client.GetObject(ctx, s.bucket, obj.Key, minio.GetObjectOptions{VersionID: locked})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := io.ReadAll(o)
	o.Close()
	if err != nil || !bytes.Equal(kept, data) {
		t.Fatalf("retained version after overwrite = %q, %v; want the original bytes", kept, err)
	}
	rc, err := s.Get(ctx, obj.Key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); !errors.Is(err, storage.ErrCorrupt) {
		t.Errorf("Get after overwrite: %v, want ErrCorrupt", err)
	}
	rc.Close()

	// Retaining again covers the new version too.
	if _, err := s.Retain(ctx, obj.Key); err != nil {
		t.Fatalf("Retain again: %v", err)
	}
	for _, v := range versionIDs(t, s, obj.Key) {
		if mode, _, err := s.client.GetObjectRetention(ctx, s.bucket, obj.Key, v); err != nil || mode == nil || *mode != minio.Governance {
			t.Errorf("version %s: retention %v, %v; want GOVERNANCE", v, mode, err)
		}
	}
	if err := s.Unretain(ctx, obj.Key); err != nil {
		t.Fatalf("Unretain: %v", err)
	}
	if err := s.Delete(ctx, obj.Key); err != nil {
		t.Fatalf("Delete after Unretain: %v", err)
	}
	if ids, err := s.versions(ctx, "test", obj.Key, true); err != nil || len(ids) != 0 {
		t.Errorf("after Delete: versions and markers %v, %v; want none", ids, err)
	}
	if _, err := s.Retain(ctx, obj.Key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Retain of a deleted object: %v, want ErrNotFound", err)
	}
}

// TestComplianceRetention checks that COMPLIANCE retention holds even
// against the bypass permission, and cannot be lifted, until it expires.
func TestComplianceRetention(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	s.mode, s.retainFor = minio.Compliance, 3*time.Second
	obj, err := s.Put(ctx, strings.NewReader("compliance"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Retain(ctx, obj.Key)
	if err != nil || r.Mode != "COMPLIANCE" {
		t.Fatalf("Retain = %+v, %v; want COMPLIANCE", r, err)
	}
	// The bucket cannot be emptied before the retention expires.
	t.Cleanup(func() { time.Sleep(time.Until(r.Until.Add(time.Second))) })
	wantRetained(t, "Unretain of COMPLIANCE retention", s.Unretain(ctx, obj.Key))
	wantRetained(t, "Delete", s.Delete(ctx, obj.Key))
	v := versionIDs(t, s, obj.Key)[0]
	if err := s.client.RemoveObject(ctx, s.bucket, obj.Key, minio.RemoveObjectOptions{VersionID: v, GovernanceBypass: true}); err == nil {
		t.Fatal("a delete with the governance bypass removed a COMPLIANCE version")
	}
	// A governance store's Retain finds it retained at least as strongly
	// and does not weaken it.
	s.mode = minio.Governance
	if _, err := s.Retain(ctx, obj.Key); err != nil {
		t.Errorf("Retain in GOVERNANCE over longer COMPLIANCE retention: %v", err)
	}
	if mode, _, err := s.client.GetObjectRetention(ctx, s.bucket, obj.Key, v); err != nil || mode == nil || *mode != minio.Compliance {
		t.Errorf("retention after a GOVERNANCE Retain: %v, %v; want COMPLIANCE kept", mode, err)
	}
}

// TestBucketWithoutObjectLock checks that a store with retention refuses
// a bucket that cannot give it, naming the cause, and that RetentionOff
// accepts one (and refuses to Retain).
func TestBucketWithoutObjectLock(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	cfg := testConfig(t)
	cfg.Bucket = s.bucket + "-plain"
	if err := s.client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	plain := &Store{client: s.client, bucket: cfg.Bucket}
	t.Cleanup(func() { removeBucket(t, plain) })
	if _, err := New(ctx, cfg); err == nil || !strings.Contains(err.Error(), "Object Lock") {
		t.Errorf("New with retention on a bucket without object locking: %v, want an error naming Object Lock", err)
	}
	cfg.Retention = RetentionOff
	off, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New with retention off: %v", err)
	}
	obj, err := off.Put(ctx, strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := off.Retain(ctx, obj.Key); err == nil {
		t.Error("Retain with retention off succeeded")
	}
	if err := off.Delete(ctx, obj.Key); err != nil {
		t.Errorf("Delete in an unversioned bucket: %v", err)
	}
	if _, err := off.Stat(ctx, obj.Key); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat after Delete: %v, want ErrNotFound", err)
	}
}
