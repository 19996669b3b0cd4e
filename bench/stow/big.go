package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/trialgate/trialgate/dicom"
)

// UIDs of the synthetic instance.
const (
	enhancedCTStorage   = "1.2.840.10008.5.1.4.1.1.2.1"
	bigRows, bigColumns = 512, 512
	bigFrameBytes       = bigRows * bigColumns * 2 // 16 bits allocated, one sample
	maxPixelDataLength  = 0xFFFFFFFE               // largest even defined length
)

// parseSize reads a byte count such as 1GiB, 512MiB, 100MB, 4096.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}, {"B", 1}}
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q: want a positive count with an optional unit (B, kB, MB, GB, KiB, MiB, GiB)", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return n * mult, nil
}

// newUID returns a fresh UUID-derived UID 2.25.<decimal> (PS3.5 B.2).
func newUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random UID: %w", err)
	}
	return "2.25." + new(big.Int).SetBytes(b[:]).String(), nil
}

// trialContext is the Clinical Trial Subject module values written into the
// synthetic instance.
type trialContext struct {
	trial, site, subject, visit string
}

// bigInstance is a synthetic multi-frame Enhanced CT instance of native
// 16-bit pixel data: a header encoded with dicom.Encode and pixel data
// generated on the fly, so nothing of it is ever on disk or whole in
// memory.
type bigInstance struct {
	header []byte // preamble, file meta and data set up to the Pixel Data value
	frames int
	uid    string // SOP Instance UID
}

// newBigInstance lays out an instance with at least size bytes of pixel
// data (whole 512×512 frames).
func newBigInstance(size int64, tc trialContext) (*bigInstance, error) {
	frames := (size + bigFrameBytes - 1) / bigFrameBytes
	if frames*bigFrameBytes > maxPixelDataLength {
		return nil, fmt.Errorf("%d bytes of pixel data do not fit a defined-length Pixel Data element (max %d)", frames*bigFrameBytes, int64(maxPixelDataLength))
	}
	var uids [3]string
	for i := range uids {
		u, err := newUID()
		if err != nil {
			return nil, err
		}
		uids[i] = u
	}
	sop, study, series := uids[0], uids[1], uids[2]
	now := time.Now().UTC()
	date, tm := now.Format("20060102"), now.Format("150405")

	ds := &dicom.Dataset{}
	str := func(tag dicom.Tag, vr, v string) { ds.SetString(tag, vr, v) }
	us := func(tag dicom.Tag, v uint16) {
		ds.Set(&dicom.Element{Tag: tag, VR: "US", Value: binary.LittleEndian.AppendUint16(nil, v)})
	}
	str(dicom.ImageType, "CS", `ORIGINAL\PRIMARY\AXIAL\NONE`)
	str(dicom.SOPClassUID, "UI", enhancedCTStorage)
	str(dicom.SOPInstanceUID, "UI", sop)
	str(dicom.NewTag(0x0008, 0x0020), "DA", date) // Study Date
	str(dicom.NewTag(0x0008, 0x0023), "DA", date) // Content Date
	str(dicom.NewTag(0x0008, 0x0030), "TM", tm)   // Study Time
	str(dicom.NewTag(0x0008, 0x0033), "TM", tm)   // Content Time
	str(dicom.NewTag(0x0008, 0x0050), "SH", "BENCH0001")
	str(dicom.NewTag(0x0008, 0x0060), "CS", "CT")
	str(dicom.NewTag(0x0008, 0x0070), "LO", "TrialGate bench")
	str(dicom.NewTag(0x0008, 0x0080), "LO", "Synthetic Hospital")
	str(dicom.NewTag(0x0008, 0x1030), "LO", "Synthetic multi-frame load test")
	str(dicom.NewTag(0x0010, 0x0010), "PN", "BENCH^SYNTHETIC")
	str(dicom.NewTag(0x0010, 0x0020), "LO", "BENCH-PID-0001")
	str(dicom.NewTag(0x0010, 0x0030), "DA", "19700101")
	str(dicom.NewTag(0x0010, 0x0040), "CS", "O")
	str(dicom.ClinicalTrialSponsorName, "LO", "TrialGate bench sponsor")
	str(dicom.ClinicalTrialProtocolID, "LO", tc.trial)
	str(dicom.ClinicalTrialSiteID, "LO", tc.site)
	str(dicom.ClinicalTrialSubjectID, "LO", tc.subject)
	str(dicom.ClinicalTrialTimePointID, "LO", tc.visit)
	str(dicom.StudyInstanceUID, "UI", study)
	str(dicom.SeriesInstanceUID, "UI", series)
	str(dicom.NewTag(0x0020, 0x0010), "SH", "1") // Study ID
	str(dicom.NewTag(0x0020, 0x0011), "IS", "1") // Series Number
	str(dicom.NewTag(0x0020, 0x0013), "IS", "1") // Instance Number
	us(dicom.NewTag(0x0028, 0x0002), 1)          // Samples per Pixel
	str(dicom.NewTag(0x0028, 0x0004), "CS", "MONOCHROME2")
	str(dicom.NumberOfFrames, "IS", strconv.FormatInt(frames, 10))
	us(dicom.Rows, bigRows)
	us(dicom.NewTag(0x0028, 0x0011), bigColumns)
	us(dicom.NewTag(0x0028, 0x0100), 16) // Bits Allocated
	us(dicom.NewTag(0x0028, 0x0101), 16) // Bits Stored
	us(dicom.NewTag(0x0028, 0x0102), 15) // High Bit
	us(dicom.NewTag(0x0028, 0x0103), 0)  // Pixel Representation
	str(dicom.NewTag(0x0028, 0x0301), "CS", "NO")

	syntax, err := dicom.LookupSyntax(dicom.ExplicitVRLittleEndian)
	if err != nil {
		return nil, err
	}
	var h bytes.Buffer
	if err := dicom.Encode(&h, dicom.NewMeta(enhancedCTStorage, sop, syntax), ds, syntax); err != nil {
		return nil, fmt.Errorf("synthetic header: %w", err)
	}
	// Pixel Data (7FE0,0010) OW, defined length; its value is streamed.
	h.Write([]byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'W', 0, 0})
	h.Write(binary.LittleEndian.AppendUint32(nil, uint32(frames*bigFrameBytes)))
	return &bigInstance{header: h.Bytes(), frames: int(frames), uid: sop}, nil
}

// size is the instance's file length.
func (b *bigInstance) size() int64 { return int64(len(b.header)) + int64(b.frames)*bigFrameBytes }

// part returns the instance as a request part.
func (b *bigInstance) part() part {
	return part{
		name: "synthetic " + b.uid,
		size: b.size(),
		open: func() (io.ReadCloser, error) {
			return io.NopCloser(io.MultiReader(bytes.NewReader(b.header), newPixelReader(b.frames))), nil
		},
	}
}

// pixelReader generates frames of deterministic pseudo-random pixels: one
// frame computed once with xorshift, each frame stamped with its number in
// its first 8 bytes so that no two frames are equal.
type pixelReader struct {
	base   []byte
	frame  []byte // the current frame, stamped
	frames int    // frames left after the current one
	off    int    // read offset in frame
	n      uint64 // current frame's number
}

func newPixelReader(frames int) *pixelReader {
	base := make([]byte, bigFrameBytes)
	x := uint64(0x9E3779B97F4A7C15)
	for i := 0; i+8 <= len(base); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(base[i:], x)
	}
	r := &pixelReader{base: base, frame: make([]byte, bigFrameBytes), frames: frames, off: bigFrameBytes}
	return r
}

func (r *pixelReader) Read(p []byte) (int, error) {
	if r.off == len(r.frame) {
		if r.frames == 0 {
			return 0, io.EOF
		}
		r.frames--
		r.n++
		copy(r.frame, r.base)
		binary.LittleEndian.PutUint64(r.frame, r.n)
		r.off = 0
	}
	n := copy(p, r.frame[r.off:])
	r.off += n
	return n, nil
}
