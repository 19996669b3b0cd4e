package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/trialgate/trialgate/dicom"
)

// The OHIF Viewer, as published on npm (@ohif/app's prebuilt dist/,
// fetched and checked against its pinned sha512 by scripts/test.sh into
// .cache/ohif), opens a study from one of the
// gateway's DICOMweb roots in headless Chromium and draws it. The viewer
// is served from its own origin, as a real deployment would be, so its
// requests to the gateway are cross-origin: the gateway must answer the
// CORS preflights of its own accord (--cors-origin) and take the bearer
// token on every QIDO-RS and WADO-RS request. The test reads back the
// viewport's canvas and compares it with the image computed from the
// uploaded file, so a page that loads but draws nothing, or draws
// something else, fails.

// ohifVersion is the @ohif/app release the test runs, the one
// scripts/test.sh fetches (OHIF_VERSION there).
const ohifVersion = "3.13.2"

// ohifTimeout bounds one openInOHIF: the viewer's start (its bundles are
// large, and headless Chromium renders in software), the study's search,
// metadata and frames, and the first draw. Measured here: about 10 s.
const ohifTimeout = 45 * time.Second

// ohifViewer serves the OHIF Viewer's published build from an origin of
// its own, with an app-config.js that openInOHIF writes for the DICOMweb
// root it opens a study from.
type ohifViewer struct {
	origin   string // http://127.0.0.1:port: the value for --cors-origin
	chromium string

	busy   sync.Mutex             // held by openInOHIF: one page at a time
	config atomic.Pointer[[]byte] // app-config.js of the page open now
}

// newOHIF starts serving the viewer, before the gateway starts, so that
// the gateway can be told its origin. It skips the test when Chromium or
// the viewer's build are missing, and fails it in CI, where
// scripts/test.sh provides both.
func newOHIF(t *testing.T) *ohifViewer {
	t.Helper()
	chromium := tool(t, "chromium", "apt-get install chromium")
	dist, err := filepath.Abs(filepath.Join("..", "..", ".cache", "ohif", "app-"+ohifVersion, "dist"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dist, "index.html")); err != nil {
		msg := "the OHIF Viewer's build is missing from " + dist + ": scripts/test.sh fetches it"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	v := &ohifViewer{chromium: chromium}
	srv := httptest.NewServer(v.handler(os.DirFS(dist)))
	t.Cleanup(srv.Close)
	v.origin = srv.URL
	return v
}

// handler serves the build: the generated app-config.js, the files of
// dist/, and index.html for every other path, which the viewer's router
// resolves (/viewer, /callback ...), as the build's _redirects asks of a
// host.
func (v *ohifViewer) handler(dist fs.FS) http.Handler {
	files := http.FileServerFS(dist)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean(r.URL.Path)
		if p == "/app-config.js" {
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			if cfg := v.config.Load(); cfg != nil {
				w.Write(*cfg)
			}
			return
		}
		if fi, err := fs.Stat(dist, strings.TrimPrefix(p, "/")); p != "/" && (err != nil || fi.IsDir()) {
			http.ServeFileFS(w, r, dist, "index.html")
			return
		}
		files.ServeHTTP(w, r)
	})
}

// ohifConfig is the viewer's app-config.js for one DICOMweb root: OHIF's
// DICOMweb data source, told what the gateway supports (QIDO-RS
// includefield, wildcard and fuzzy matching; WADO-RS metadata with bulk
// data URIs, frames, thumbnails; quoted multipart parameters as PS3.18
// writes them), and nothing else (no study list, no dialogs).
func ohifConfig(root string) ([]byte, error) {
	source := map[string]any{
		"namespace":  "@ohif/extension-default.dataSourcesModule.dicomweb",
		"sourceName": "trialgate",
		"configuration": map[string]any{
			"friendlyName":                     "TrialGate",
			"name":                             "trialgate",
			"qidoRoot":                         root,
			"wadoRoot":                         root,
			"wadoUriRoot":                      root, // not used: images come through WADO-RS
			"qidoSupportsIncludeField":         true,
			"supportsWildcard":                 true,
			"supportsFuzzyMatching":            true,
			"supportsReject":                   false,
			"staticWado":                       false,
			"enableStudyLazyLoad":              true,
			"imageRendering":                   "wadors",
			"thumbnailRendering":               "thumbnail",
			"thumbnailRequestStrategy":         "fetch",
			"bulkDataURI":                      map[string]any{"enabled": true},
			"omitQuotationForMultipartRequest": false,
		},
	}
	cfg := map[string]any{
		"routerBasename":                   "/",
		"extensions":                       []any{},
		"modes":                            []any{},
		"showStudyList":                    false,
		"showLoadingIndicator":             true,
		"maxNumberOfWebWorkers":            2,
		"investigationalUseDialog":         map[string]any{"option": "never"},
		"showWarningMessageForCrossOrigin": false,
		"showCPUFallbackMessage":           false,
		"defaultDataSourceName":            "trialgate",
		"dataSources":                      []any{source},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("ohif: app-config: %w", err)
	}
	return append(append([]byte("window.config = "), b...), ";\n"...), nil
}

// ohifView is what the viewer showed and did.
type ohifView struct {
	Canvas image.Image // the viewport's canvas, once want accepted it
	// Requests are the page's requests under the DICOMweb root, in order:
	// "GET /studies/... (Accept: ...) -> 200 application/dicom+json", the
	// path relative to the root.
	Requests []string
	// Text is the page's text (document.body.innerText) once it drew:
	// the study panel, the viewport's overlays.
	Text string
	// Instance is the attributes of the displayed instance as the viewer
	// holds them (cornerstone's "instance" metadata, JSON), which its
	// patient panel and overlays draw on.
	Instance string
}

// openInOHIF opens the study in the OHIF Viewer, configured with the
// DICOMweb root gatewayRoot (e.g. http://host/dicomweb/trials/T1, or a
// read task's root), in headless Chromium, and waits until the canvas of
// the viewport is an image that want accepts, given the VOI range the
// viewport shows the modality values through (the window it chose from
// the metadata or the pixels, which the test does not second-guess). The
// gateway must allow v's
// origin (--cors-origin v.origin).
//
// The token reaches OHIF as the viewer supports it without an OpenID
// provider: in the token query parameter of the viewer's URL, which OHIF
// removes from the address bar and sends as "Authorization: Bearer" on
// every DICOMweb request.
//
// It fails the test, with the last reason want gave, the page's console
// and its requests to the gateway, when the canvas shows no such image in
// ohifTimeout. The canvas is written to the test's artifact directory
// (kept with go test -artifacts).
func openInOHIF(t *testing.T, v *ohifViewer, gatewayRoot, token, studyUID string, want func(image.Image, voiRange) error) ohifView {
	t.Helper()
	root := strings.TrimRight(gatewayRoot, "/")
	cfg, err := ohifConfig(root)
	if err != nil {
		t.Fatal(err)
	}
	v.busy.Lock()
	defer v.busy.Unlock()
	v.config.Store(&cfg)

	var browserOut syncBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(v.chromium),
		// Tests run as root in CI, where Chromium refuses its sandbox.
		chromedp.NoSandbox,
		chromedp.WindowSize(1280, 960),
		chromedp.UserDataDir(t.TempDir()),
		// No GPU here: WebGL through SwiftShader, which Chromium 139+
		// enables only when asked.
		chromedp.Flag("enable-unsafe-swiftshader", true),
		// The page reaches the viewer's and the gateway's 127.0.0.1
		// addresses and nothing else: the build names CDNs and
		// telemetry hosts, and no name resolves. (The rules apply to IP
		// literals too, hence the exclusion.)
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.CombinedOutput(&browserOut),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	start := time.Now()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v\n%s", v.chromium, err, browserOut.String())
	}

	var console consoleLog
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			console.add(m)
		}
	}()
	reqs := &requestLog{root: root, byID: map[network.RequestID]int{}}
	if err := chromedp.Listen(ctx, reqs.event); err != nil {
		t.Fatal(err)
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("OHIF at %s, DICOMweb root %s, study %s: %s (after %.1fs)\nthe page's console:\n%s\nthe page's requests to the DICOMweb root:\n%s",
			v.origin, root, studyUID, fmt.Sprintf(format, args...), time.Since(start).Seconds(), console.String(), reqs.String())
	}

	tctx, tcancel := context.WithTimeout(ctx, ohifTimeout)
	defer tcancel()
	q := url.Values{"StudyInstanceUIDs": {studyUID}, "token": {token}}
	// cornerstone reports a frame it cannot show only as an event
	// (IMAGE_LOAD_ERROR and its kin), whose detail holds the reason, and
	// OHIF's handler of it throws before saying anything useful. The
	// page logs every such event's error to its console, which a failure
	// prints.
	const logErrorEvents = `(() => {
		const Base = window.CustomEvent;
		window.CustomEvent = class extends Base {
			constructor(type, init) {
				super(type, init);
				const err = init && init.detail && init.detail.error;
				if (String(type).includes('ERROR')) console.error('event ' + type + ':', err && (err.stack || err.message || JSON.stringify(err)));
			}
		};
	})()`
	if err := chromedp.Do(tctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: logErrorEvents})
		return err
	})); err != nil {
		fail("adding the page's error log: %v", err)
	}
	// Not chromedp.Navigate, which waits for the load event: the viewer
	// keeps loading its bundles and workers long after it has started, and
	// the canvas below is what the test waits for.
	if err := chromedp.Do(tctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, page.Navigate, page.NavigateParams{URL: v.origin + "/viewer?" + q.Encode()})
		if err == nil && res.ErrorText != "" {
			err = errors.New(res.ErrorText)
		}
		return err
	})); err != nil {
		fail("navigating: %v", err)
	}
	// The viewport's canvas (cornerstone's 2D canvas, which holds the
	// image's pixels only: overlays and annotations are DOM and SVG above
	// it) as a PNG data URL, and the VOI range the viewport maps the
	// modality values through, or "" while there is no image.
	const readCanvas = `(() => {
		const c = document.querySelector('canvas.cornerstone-canvas');
		if (!c || c.width == 0 || c.height == 0 || !window.cornerstone) return '';
		const vp = window.cornerstone.getRenderingEngines()?.[0]?.getViewports()?.[0];
		const voi = vp?.getProperties?.()?.voiRange;
		if (!voi) return '';
		return JSON.stringify({png: c.toDataURL('image/png'), lower: voi.lower, upper: voi.upper});
	})()`
	var last image.Image
	reason := errors.New("no viewport canvas yet")
	for {
		shown, err := chromedp.Run(tctx, chromedp.Evaluate[string](readCanvas))
		if err == nil && shown != "" {
			var got struct {
				PNG          string
				Lower, Upper float64
			}
			if err := json.Unmarshal([]byte(shown), &got); err != nil {
				fail("reading the canvas: %v", err)
			}
			img, err := decodeDataURL(got.PNG)
			if err != nil {
				fail("reading the canvas: %v", err)
			}
			last = img
			if reason = want(img, voiRange{got.Lower, got.Upper}); reason == nil {
				break
			}
		} else if err != nil && tctx.Err() == nil {
			reason = fmt.Errorf("reading the canvas: %w", err)
		}
		if tctx.Err() != nil {
			saveCanvas(t, last)
			fail("the viewport shows no rendering of the study: %v", reason)
		}
		select {
		case <-tctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	t.Logf("OHIF drew study %s from %s in %.1fs", studyUID, root, time.Since(start).Seconds())
	saveCanvas(t, last)
	// The overlays and panels render with the image, or just after it.
	time.Sleep(time.Second)
	text, err := chromedp.Run(tctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		fail("reading the page's text: %v", err)
	}
	instance, err := chromedp.Run(tctx, chromedp.Evaluate[string](`(() => {
		const vp = window.cornerstone.getRenderingEngines()[0].getViewports()[0];
		return JSON.stringify(window.cornerstone.metaData.get('instance', vp.getCurrentImageId()) || null);
	})()`))
	if err != nil {
		fail("reading the displayed instance's metadata: %v", err)
	}
	return ohifView{Canvas: last, Requests: reqs.lines(), Text: text, Instance: instance}
}

func decodeDataURL(s string) (image.Image, error) {
	const prefix = "data:image/png;base64,"
	if !strings.HasPrefix(s, prefix) {
		return nil, fmt.Errorf("not a PNG data URL: %.40q", s)
	}
	b, err := base64.StdEncoding.DecodeString(s[len(prefix):])
	if err != nil {
		return nil, err
	}
	return png.Decode(bytes.NewReader(b))
}

// saveCanvas keeps what the viewport showed, for a person to look at.
func saveCanvas(t *testing.T, img image.Image) {
	t.Helper()
	if img == nil {
		return
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Errorf("encoding the canvas: %v", err)
		return
	}
	p := filepath.Join(t.ArtifactDir(), "ohif-canvas.png")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Errorf("saving the canvas: %v", err)
		return
	}
	t.Logf("the viewport's canvas: %s", p)
}

// consoleLog collects the page's console messages.
type consoleLog struct {
	mu    sync.Mutex
	lines []string
}

func (c *consoleLog) add(m chromedp.ConsoleMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	line := m.String()
	if m.URL != "" {
		line += " (" + m.URL + ")"
	}
	c.lines = append(c.lines, line)
}

func (c *consoleLog) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}

// requestLog notes the page's requests under a DICOMweb root and how each
// ended: status and media type, or the browser's reason for failing it (a
// refused CORS preflight, for one).
type requestLog struct {
	root string
	mu   sync.Mutex
	reqs []*pageRequest
	byID map[network.RequestID]int
}

type pageRequest struct {
	method, path, accept string
	result               string
}

// event is called by chromedp on its reading goroutine: it only records.
func (l *requestLog) event(ev any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if ev.Request == nil || !strings.HasPrefix(ev.Request.URL, l.root+"/") && ev.Request.URL != l.root {
			return
		}
		accept, _ := ev.Request.Headers["Accept"].(string)
		l.byID[ev.RequestID] = len(l.reqs)
		l.reqs = append(l.reqs, &pageRequest{method: ev.Request.Method,
			path: strings.TrimPrefix(ev.Request.URL, l.root), accept: accept, result: "(no answer)"})
	case *network.EventResponseReceived:
		if i, ok := l.byID[ev.RequestID]; ok && ev.Response != nil {
			l.reqs[i].result = fmt.Sprintf("%d %s", ev.Response.Status, ev.Response.MimeType)
		}
	case *network.EventLoadingFailed:
		if i, ok := l.byID[ev.RequestID]; ok {
			r := "failed: " + ev.ErrorText
			if ev.CorsErrorStatus != nil {
				r += fmt.Sprintf(" (CORS: %s %s)", ev.CorsErrorStatus.CorsError, ev.CorsErrorStatus.FailedParameter)
			}
			if ev.Canceled {
				r += " (canceled)"
			}
			l.reqs[i].result = r
		}
	}
}

func (l *requestLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.reqs))
	for i, r := range l.reqs {
		out[i] = fmt.Sprintf("%s %s (Accept: %s) -> %s", r.method, r.path, r.accept, r.result)
	}
	return out
}

func (l *requestLog) String() string { return strings.Join(l.lines(), "\n") }

// voiRange is the range of modality values a viewport maps from black to
// white.
type voiRange struct{ Lower, Upper float64 }

// frame is the first frame of a 16-bit grayscale image as modality values
// (stored values through the rescale), computed here from the file, not by
// the gateway, whose renderer is what else could draw it.
type frame struct {
	cols, rows int
	values     []float64
	invert     bool // MONOCHROME1: the highest value is black
}

func firstFrame(t *testing.T, name string, b []byte) frame {
	t.Helper()
	obj, err := dicom.Parse(bytes.NewReader(b), dicom.Limits{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	ds := obj.Dataset
	num := func(tag dicom.Tag, def float64) float64 {
		if e := ds.Get(tag); e != nil {
			if f, err := e.Floats(); err == nil && len(f) > 0 {
				return f[0]
			}
		}
		return def
	}
	const (
		rescaleIntercept dicom.Tag = 0x00281052
		rescaleSlope     dicom.Tag = 0x00281053
	)
	rows, cols := int(num(dicom.Rows, 0)), int(num(dicom.Columns, 0))
	frames := int(num(dicom.NumberOfFrames, 1))
	bits, signed := int(num(dicom.BitsAllocated, 0)), num(dicom.PixelRepresentation, 0) == 1
	pi := ds.String(dicom.PhotometricInterpretation)
	if pi != "MONOCHROME1" && pi != "MONOCHROME2" || bits != 16 || num(dicom.SamplesPerPixel, 1) != 1 {
		t.Fatalf("%s: %s, %d bits: firstFrame handles 16-bit grayscale only", name, pi, bits)
	}
	px := nativePixels(t, name, b)
	if len(px) != frames*rows*cols*2 {
		t.Fatalf("%s: %d bytes of pixels for %d frames of %dx%d", name, len(px), frames, cols, rows)
	}
	slope, intercept := num(rescaleSlope, 1), num(rescaleIntercept, 0)
	f := frame{cols: cols, rows: rows, values: make([]float64, rows*cols), invert: pi == "MONOCHROME1"}
	for i := range f.values {
		u := uint16(px[2*i]) | uint16(px[2*i+1])<<8
		x := float64(u)
		if signed {
			x = float64(int16(u))
		}
		f.values[i] = x*slope + intercept
	}
	return f
}

// gray is the frame through the VOI range, linear, in 8 bits, as
// displayed (MONOCHROME1 inverted).
func (f frame) gray(voi voiRange) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, f.cols, f.rows))
	for i, x := range f.values {
		y := math.Round(min(max((x-voi.Lower)/(voi.Upper-voi.Lower)*255, 0), 255))
		if f.invert {
			y = 255 - y
		}
		img.Pix[i] = uint8(y)
	}
	return img
}

// showsImage accepts a canvas that shows f through the viewport's VOI
// range: not blank, and, cropped to what it draws (pixels brighter than the
// black around the image) and scaled to the crop of f's own rendering,
// correlated with it (Pearson's r on a 32x32 grid, at least 0.9: the same
// image, whatever the viewer's interpolation; a different image, a flipped
// one or noise scores far lower).
func showsImage(f frame) func(image.Image, voiRange) error {
	const threshold, grid, minR = 24, 32, 0.9
	return func(img image.Image, voi voiRange) error {
		if !(voi.Upper > voi.Lower) {
			return fmt.Errorf("the viewport's VOI range is %g to %g", voi.Lower, voi.Upper)
		}
		ref := f.gray(voi)
		refBox := litBounds(ref, threshold)
		if refBox.Empty() {
			return fmt.Errorf("the image is black through the viewport's VOI range %g to %g", voi.Lower, voi.Upper)
		}
		refGrid := sampleGrid(ref, refBox, grid)
		lo, hi := 255, 0
		b := img.Bounds()
		gray := image.NewGray(b)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				v := int((r + g + bl) / 3 >> 8)
				gray.SetGray(x, y, color.Gray{Y: uint8(v)})
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		if hi-lo < 64 {
			return fmt.Errorf("the %dx%d canvas is blank (values %d to %d)", b.Dx(), b.Dy(), lo, hi)
		}
		box := litBounds(gray, threshold)
		if box.Dx() < 64 || box.Dy() < 64 {
			return fmt.Errorf("the canvas draws only a %dx%d area", box.Dx(), box.Dy())
		}
		ra, ga := float64(refBox.Dx())/float64(refBox.Dy()), float64(box.Dx())/float64(box.Dy())
		if math.Abs(ra/ga-1) > 0.1 {
			return fmt.Errorf("the drawn area is %dx%d, the image's %dx%d: another shape", box.Dx(), box.Dy(), refBox.Dx(), refBox.Dy())
		}
		if r := pearson(refGrid, sampleGrid(gray, box, grid)); r < minR {
			return fmt.Errorf("the drawn %dx%d area correlates with the image at r=%.3f, want >= %.2f", box.Dx(), box.Dy(), r, minR)
		}
		return nil
	}
}

// litBounds is the smallest rectangle holding every pixel above threshold.
func litBounds(img *image.Gray, threshold uint8) image.Rectangle {
	b := img.Bounds()
	box := image.Rectangle{Min: b.Max, Max: b.Min}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if img.GrayAt(x, y).Y > threshold {
				box.Min.X, box.Min.Y = min(box.Min.X, x), min(box.Min.Y, y)
				box.Max.X, box.Max.Y = max(box.Max.X, x+1), max(box.Max.Y, y+1)
			}
		}
	}
	if box.Empty() {
		return image.Rectangle{}
	}
	return box
}

// sampleGrid averages the rectangle r of img over an n by n grid.
func sampleGrid(img *image.Gray, r image.Rectangle, n int) []float64 {
	out := make([]float64, n*n)
	for gy := range n {
		for gx := range n {
			x0, x1 := r.Min.X+gx*r.Dx()/n, r.Min.X+(gx+1)*r.Dx()/n
			y0, y1 := r.Min.Y+gy*r.Dy()/n, r.Min.Y+(gy+1)*r.Dy()/n
			sum, cnt := 0.0, 0
			for y := y0; y < max(y1, y0+1); y++ {
				for x := x0; x < max(x1, x0+1); x++ {
					sum += float64(img.GrayAt(x, y).Y)
					cnt++
				}
			}
			out[gy*n+gx] = sum / float64(cnt)
		}
	}
	return out
}

// pearson is the correlation coefficient of two samples of one length.
func pearson(a, b []float64) float64 {
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var sab, saa, sbb float64
	for i := range a {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) * (a[i] - ma)
		sbb += (b[i] - mb) * (b[i] - mb)
	}
	if saa == 0 || sbb == 0 {
		return 0
	}
	return sab / math.Sqrt(saa*sbb)
}

// ohifFixture is a gateway that lets the viewer's origin call it, serving
// trial T1 (examples/trial.json) with subject S1-001's baseline CR image
// (testdata/real/4.dcm: MONOCHROME1, implicit VR, 2140x1760) uploaded,
// de-identified, QC-accepted, and assigned to two readers for its double
// read.
//
// Not the CT 5.dcm: it carries palette color lookup tables in a
// MONOCHROME2 image, which cornerstone applies in a way of its own. Not
// the MR image 3.dcm: OHIF 3.13.2 draws nothing for an instance whose
// metadata holds VOI LUT Function (0028,1056), as 3.dcm's does. Its image
// loader takes the first element of the value, which the metadata provider
// gives as a string, so "LINEAR" becomes "L", and cornerstone throws
// "Invalid VOI LUT function". That is the viewer's bug, not the
// gateway's: the value and its encoding follow PS3.18 F.2.
type ohifFixture struct {
	gw    *gateway
	root  string // the trial's QC DICOMweb root
	qc    string // a QC reviewer's token
	study string // the de-identified Study Instance UID
	file  []byte // the file as uploaded
}

func newOHIFFixture(t *testing.T, origin string) *ohifFixture {
	t.Helper()
	cr, err := os.ReadFile(filepath.Join(realDir(t), "4.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{t: t, args: []string{"--data-dir", t.TempDir()}}
	if _, err := g.cli("", "trial", "create", "--file", filepath.Join("..", "..", "examples", "trial.json")); err != nil {
		t.Fatal(err)
	}
	g.addUser("dm1", "data_manager:"+interopTrial)
	g.addUser("up1", "site_uploader:"+interopTrial+":S1")
	g.addUser("qc1", "qc_reviewer:"+interopTrial)
	g.addUser("reader1", "reader:"+interopTrial)
	g.addUser("reader2", "reader:"+interopTrial)
	// The flag is serve's only: set after the other commands ran.
	g.args = append(g.args, "--cors-origin", origin)
	g.serve()
	client := func(user string) apiClient { return apiClient{t: t, base: g.base, token: token(t, g.base, user)} }
	dm, up, qc := client("dm1"), client("up1"), client("qc1")
	dm.must(http.StatusOK, "POST", "/api/v1/trials/"+interopTrial+"/versions/1/approve",
		map[string]string{"password": testPassword, "meaning": "approval"}, nil)
	var sub struct{ ID string }
	up.must(http.StatusCreated, "POST", "/api/v1/trials/"+interopTrial+"/submissions",
		map[string]string{"site": "S1", "subject": "S1-001", "visit": "BL"}, &sub)
	ctype, body := stowBody(cr)
	if r := do(t, "POST", g.base+"/dicomweb/submissions/"+sub.ID+"/studies", up.token, ctype, bytes.NewReader(body)); r.status != http.StatusOK {
		t.Fatalf("STOW-RS: %d %s", r.status, r.body)
	}
	up.must(http.StatusOK, "POST", "/api/v1/submissions/"+sub.ID+"/complete", nil, nil)
	qc.must(http.StatusOK, "POST", "/api/v1/submissions/"+sub.ID+"/qc-decision",
		map[string]string{"decision": "accept", "reason": "complete and readable"}, nil)
	var view struct {
		Instances []struct {
			Study string `json:"study_instance_uid"`
		}
	}
	qc.must(http.StatusOK, "GET", "/api/v1/submissions/"+sub.ID, nil, &view)
	if len(view.Instances) != 1 || view.Instances[0].Study == "" {
		t.Fatalf("submission holds %+v, want the one instance", view.Instances)
	}
	var run struct{ Tasks []e2eTask }
	dm.must(http.StatusOK, "POST", "/api/v1/trials/"+interopTrial+"/read-assignments", map[string]string{"seed": "ohif"}, &run)
	if len(run.Tasks) != 2 {
		t.Fatalf("assignment: %d tasks, want the case's two reads", len(run.Tasks))
	}
	return &ohifFixture{gw: g, root: g.base + "/dicomweb/trials/" + interopTrial, qc: qc.token, study: view.Instances[0].Study, file: cr}
}

// checkRequests fails the test unless the viewer drew the image the way
// its configuration says, metadata and frames through WADO-RS, with every
// request authorised (the token went with each).
func checkRequests(t *testing.T, got ohifView) {
	t.Helper()
	var metadata, frames bool
	for _, line := range got.Requests {
		ok := strings.Contains(line, "-> 200 ")
		switch {
		case strings.Contains(line, "/metadata ") && ok:
			metadata = true
		case strings.Contains(line, "/frames/") && ok:
			frames = true
		}
		if strings.Contains(line, "-> 401") || strings.Contains(line, "-> 403") || strings.Contains(line, "-> 404") {
			t.Errorf("the viewer was refused: %s", line)
		}
	}
	if !metadata || !frames {
		t.Errorf("the viewer drew the study without WADO-RS metadata (%v) and frames (%v) from the gateway; its requests:\n%s",
			metadata, frames, strings.Join(got.Requests, "\n"))
	}
}

func TestOHIFViewer(t *testing.T) {
	v := newOHIF(t)
	fx := newOHIFFixture(t, v.origin)
	want := showsImage(firstFrame(t, "4.dcm", fx.file))

	t.Run("qc_view", func(t *testing.T) {
		got := openInOHIF(t, v, fx.root, fx.qc, fx.study, want)
		checkRequests(t, got)
	})

	// A reader opens their task's case from the task's own DICOMweb root,
	// as the read-task API gives it: the same pixels, under the case code,
	// and nothing on the page names the subject, the site or the visit.
	t.Run("reader_view", func(t *testing.T) {
		reader := apiClient{t: t, base: fx.gw.base, token: token(t, fx.gw.base, "reader1")}
		var list struct{ Tasks []e2eTask }
		reader.must(http.StatusOK, "GET", "/api/v1/read-tasks", nil, &list)
		if len(list.Tasks) != 1 {
			t.Fatalf("reader1 has %d tasks, want 1", len(list.Tasks))
		}
		var task struct {
			e2eTask
			DICOMweb string `json:"dicomweb"`
		}
		reader.must(http.StatusOK, "GET", "/api/v1/read-tasks/"+list.Tasks[0].ID, nil, &task)
		if len(task.Timepoints) != 1 || len(task.Timepoints[0].Studies) != 1 || task.DICOMweb == "" {
			t.Fatalf("task %+v: want one time point with one study and a DICOMweb root", task)
		}
		root := task.DICOMweb
		if strings.HasPrefix(root, "/") {
			root = fx.gw.base + root
		}
		got := openInOHIF(t, v, root, reader.token, task.Timepoints[0].Studies[0], want)
		checkRequests(t, got)
		var inst struct{ PatientID, PatientName any }
		if err := json.Unmarshal([]byte(got.Instance), &inst); err != nil {
			t.Fatalf("the displayed instance's metadata: %v: %s", err, got.Instance)
		}
		if fmt.Sprint(inst.PatientID) != task.Case || !strings.Contains(fmt.Sprint(inst.PatientName), task.Case) {
			t.Errorf("the viewer holds PatientID %v, PatientName %v; want the case code %s", inst.PatientID, inst.PatientName, task.Case)
		}
		for _, secret := range []string{"S1-001", "S1", "City Hospital Radiology", "Baseline", "BL"} {
			if containsWord(got.Text, secret) || containsWord(got.Instance, secret) {
				t.Errorf("the reader's viewer shows or holds %q; its text:\n%s\nthe instance:\n%s", secret, got.Text, got.Instance)
			}
		}
	})
}

// containsWord reports whether s holds w between non-alphanumerics.
func containsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		before := j == 0 || !isWordByte(s[j-1])
		after := j+len(w) == len(s) || !isWordByte(s[j+len(w)])
		if before && after {
			return true
		}
		i = j + 1
	}
}

func isWordByte(b byte) bool {
	return b == '-' || b == '.' || '0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

// The pixel check itself: it takes the image drawn at another scale on a
// larger black canvas, and refuses a blank canvas, the image upside down
// and another image.
func TestShowsImage(t *testing.T) {
	read := func(name string) frame {
		b, err := os.ReadFile(filepath.Join(realDir(t), name))
		if err != nil {
			t.Fatal(err)
		}
		return firstFrame(t, name, b)
	}
	cr, ct := read("4.dcm"), read("5.dcm")
	voi := voiRange{0, 1023}
	// canvas draws img scaled by 3/8 (nearest neighbour) at (40, 30) on a
	// black 955x759 canvas, flipped upside down if asked.
	canvas := func(img *image.Gray, flip bool) image.Image {
		out := image.NewRGBA(image.Rect(0, 0, 955, 759))
		b := img.Bounds()
		for y := range b.Dy() * 3 / 8 {
			for x := range b.Dx() * 3 / 8 {
				sy := y * 8 / 3
				if flip {
					sy = b.Dy() - 1 - sy
				}
				v := img.GrayAt(x*8/3, sy).Y
				out.Set(40+x, 30+y, color.RGBA{v, v, v, 255})
			}
		}
		return out
	}
	check := showsImage(cr)
	if err := check(canvas(cr.gray(voi), false), voi); err != nil {
		t.Errorf("the image itself: %v", err)
	}
	for name, img := range map[string]image.Image{
		"blank":       image.NewRGBA(image.Rect(0, 0, 955, 759)),
		"upside down": canvas(cr.gray(voi), true),
		"another":     canvas(ct.gray(voiRange{0, 1196}), false),
	} {
		if err := check(img, voi); err == nil {
			t.Errorf("%s canvas accepted", name)
		}
	}
}
