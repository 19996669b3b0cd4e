package codec_test

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/dicom/codec"
)

// ctLike returns a 512x512 16-bit frame that compresses like a CT slice:
// a disc of smooth tissue with noise on a flat background.
func ctLike() (pix []uint16, native []byte) {
	r := rand.New(rand.NewPCG(13, 14))
	pix = make([]uint16, 512*512)
	for y := range 512 {
		for x := range 512 {
			v := 0
			if d := math.Hypot(float64(x-256), float64(y-256)); d < 230 {
				v = 1000 + int(200*math.Sin(float64(x)/17)*math.Cos(float64(y)/23)) + r.IntN(40)
			}
			pix[y*512+x] = uint16(v)
		}
	}
	for _, v := range pix {
		native = binary.LittleEndian.AppendUint16(native, v)
	}
	return pix, native
}

// BenchmarkDecode decodes a 512x512 16-bit frame: synthesized and
// compressed by the tests' encoders, and, where dcmtk is installed, the
// first CT frame of the real 5.dcm as dcmcrle and dcmcjpeg compress it.
// Throughput counts decoded bytes:
//
//	go test ./dicom/codec -run '^$' -bench . -benchmem
func BenchmarkDecode(b *testing.B) {
	pix, native := ctLike()
	h := header{rows: 512, cols: 512, ba: 16}.dataset()
	type input struct {
		name  string
		ds    *dicom.Dataset
		uid   string
		frame []byte
	}
	inputs := []input{
		{"RLE synthetic", h, dicom.RLELossless, rleEncode(native, 512*512, 1, 2)},
		{"JPEG SV1 synthetic", h, jpegLosslessSV1, jpegEncode([][]uint16{pix}, 512, 512, jpegOptions{precision: 16, pred: 1})},
		{"JPEG predictor 7 synthetic", h, jpegLossless, jpegEncode([][]uint16{pix}, 512, 512, jpegOptions{precision: 16, pred: 7})},
	}
	if dcmtkInstalled("dcmcrle", "dcmcjpeg") {
		dir := b.TempDir()
		src := filepath.Join("..", "..", "testdata", "real", "5.dcm")
		for _, c := range []struct {
			name string
			tool string
			args []string
		}{
			{"RLE CT (5.dcm)", "dcmcrle", nil},
			{"JPEG SV1 CT (5.dcm)", "dcmcjpeg", []string{"+e1"}},
			{"JPEG predictor 6 CT (5.dcm)", "dcmcjpeg", []string{"+el", "+sv", "6"}},
		} {
			out := filepath.Join(dir, c.name+".dcm")
			if err := exec.Command(c.tool, append(c.args, src, out)...).Run(); err != nil {
				b.Logf("%s: %v: skipped", c.name, err)
				continue
			}
			o := readObject(b, out)
			inputs = append(inputs, input{c.name, o.ds, o.s.UID, o.frames[0]})
		}
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			s, err := dicom.LookupSyntax(in.uid)
			if err != nil {
				b.Fatal(err)
			}
			dst, err := codec.Decode(in.ds, s, in.frame, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(dst)))
			b.ResetTimer()
			for b.Loop() {
				if dst, err = codec.Decode(in.ds, s, in.frame, dst); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(dst))/float64(len(in.frame)), "ratio")
		})
	}
}

func dcmtkInstalled(names ...string) bool {
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			return false
		}
	}
	return true
}
