package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/catalog"
	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/dicom/render"
)

// The trial's QC view over QIDO-RS (PS3.18 10.6) and WADO-RS (10.4):
// searches at every level, retrieval of studies, series and instances,
// metadata, frames, bulk data, rendered images and thumbnails. The
// catalogue decides what the caller sees and records every access; these
// handlers negotiate representations and stream them.

// dicomView is one DICOMweb view the routes serve: the trial's QC view
// under /dicomweb/trials/{trial}, or a read task's blinded view under
// /dicomweb/reads/{task}. The same handlers serve both.
type dicomView struct {
	policy catalog.Policy
	prefix string // the view's path up to its ref, e.g. "/dicomweb/trials/"
	// ref reads the view's ref from the path, refusing a malformed one.
	ref func(c *gin.Context) (string, error)
}

const viewKey = "trialgate.view"

// useView makes the routes of a group serve v.
func useView(v *dicomView) gin.HandlerFunc {
	return func(c *gin.Context) { c.Set(viewKey, v) }
}

// viewRef returns the policy and ref of the request's view, and the
// absolute URL of the view's DICOMweb root for the URLs in answers.
func (s *Server) viewRef(c *gin.Context) (catalog.Policy, string, string, error) {
	v := c.MustGet(viewKey).(*dicomView)
	ref, err := v.ref(c)
	if err != nil {
		return nil, "", "", err
	}
	return v.policy, ref, s.publicBase(c) + v.prefix + ref, nil
}

// publicBase returns the absolute URL under which clients reach this
// server: the configured public URL, or the scheme and host of the
// request.
func (s *Server) publicBase(c *gin.Context) string {
	if s.publicURL != "" {
		return s.publicURL
	}
	scheme := "http"
	if c.Request.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host
}

// selection reads the UIDs of a WADO-RS path.
func selection(c *gin.Context) catalog.Selection {
	return catalog.Selection{Study: c.Param("study"), Series: c.Param("series"), Instance: c.Param("instance")}
}

// qido is the QIDO-RS search of the trial's QC view at one level.
func (s *Server) qido(level catalog.Level) func(*gin.Context) error {
	return func(c *gin.Context) error {
		policy, id, base, err := s.viewRef(c)
		if err != nil {
			return err
		}
		if err := acceptJSON(c.GetHeader("Accept")); err != nil {
			return err
		}
		q, err := catalog.ParseQuery(level, c.Param("study"), c.Param("series"), c.Request.URL.Query())
		if err != nil {
			return err
		}
		res, err := s.catalog.Search(c.Request.Context(), principal(c), policy, id, q, base)
		if err != nil {
			return err
		}
		if res.Truncated(q) {
			c.Header("Warning", fmt.Sprintf(`299 trialgate "%d of %d matches returned (offset %d, limit %d): request the rest with offset"`,
				len(res.Matches), res.Total, q.Offset, q.Limit))
		}
		out := res.Matches
		if out == nil {
			out = []map[string]any{}
		}
		c.Header("Content-Type", mediaDICOMJSON)
		return json.NewEncoder(c.Writer).Encode(out)
	}
}

// metadata is WADO-RS metadata of a study, a series or an instance.
func (s *Server) metadata(c *gin.Context) error {
	policy, id, base, err := s.viewRef(c)
	if err != nil {
		return err
	}
	if err := acceptJSON(c.GetHeader("Accept")); err != nil {
		return err
	}
	out, err := s.catalog.Metadata(c.Request.Context(), principal(c), policy, id, selection(c), base)
	if err != nil {
		return err
	}
	c.Header("Content-Type", mediaDICOMJSON)
	return json.NewEncoder(c.Writer).Encode(out)
}

// retrieve is WADO-RS of a study, a series or an instance: multipart/related
// with one application/dicom part per instance, streamed from the object
// store (or one instance as application/dicom, when that is preferred).
func (s *Server) retrieve(c *gin.Context) error {
	policy, id, _, err := s.viewRef(c)
	if err != nil {
		return err
	}
	sel := selection(c)
	multi, negotiate, err := instanceNegotiation(c.GetHeader("Accept"), sel.Instance != "")
	if err != nil {
		return err
	}
	ctx := c.Request.Context()
	r, err := s.catalog.Retrieve(ctx, principal(c), policy, id, sel, negotiate)
	if err != nil {
		return err
	}
	if !multi {
		return r.Each(ctx, func(p catalog.Part, body io.Reader) error {
			c.Header("Content-Type", mediaDICOM+"; transfer-syntax="+p.Syntax.UID)
			if p.Size >= 0 {
				c.Header("Content-Length", fmt.Sprint(p.Size))
			}
			c.Status(http.StatusOK)
			return sendBody(c.Writer, body)
		})
	}
	mw := startMultipart(c, mediaDICOM)
	err = r.Each(ctx, func(p catalog.Part, body io.Reader) error {
		h := textproto.MIMEHeader{"Content-Type": {mediaDICOM + "; transfer-syntax=" + p.Syntax.UID}}
		if p.Size >= 0 {
			h.Set("Content-Length", fmt.Sprint(p.Size))
		}
		pw, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		return sendBody(pw, body)
	})
	if err != nil {
		return err
	}
	return mw.Close()
}

// startMultipart sends the status and Content-Type of a multipart/related
// answer whose parts are of partType.
func startMultipart(c *gin.Context, partType string) *multipart.Writer {
	mw := multipart.NewWriter(c.Writer)
	c.Header("Content-Type", fmt.Sprintf("multipart/related; type=%q; boundary=%s", partType, mw.Boundary()))
	c.Status(http.StatusOK)
	return mw
}

// sendBody copies a streamed body. Its status is already sent, so a
// failure (a stored object failing its hash check, the store going away)
// aborts the connection: the client sees a broken transfer, never a
// silently corrupt object.
func sendBody(w io.Writer, body io.Reader) error {
	if _, err := io.Copy(w, body); err != nil {
		return fmt.Errorf("api: send: %w", err)
	}
	return nil
}

// frames is WADO-RS of frames of an instance (.../frames/1,3,5), and of its
// Pixel Data as bulk data.
func (s *Server) frames(c *gin.Context) error {
	numbers, err := catalog.ParseFrameList(c.Param("frames"))
	if err != nil {
		return err
	}
	return s.sendFrames(c, numbers, false)
}

// sendFrames streams frames, each its own part; as bulk data, uncompressed
// frames are one part, the Pixel Data's value.
func (s *Server) sendFrames(c *gin.Context, numbers []int, bulk bool) error {
	policy, id, base, err := s.viewRef(c)
	if err != nil {
		return err
	}
	negotiate, err := frameNegotiation(c.GetHeader("Accept"))
	if err != nil {
		return err
	}
	ctx := c.Request.Context()
	f, err := s.catalog.Frames(ctx, principal(c), policy, id, selection(c), numbers, negotiate)
	if err != nil {
		return err
	}
	defer f.Close()
	ts := f.Syntax.UID
	uncompressed := !f.Syntax.Encapsulated || f.Decoded
	if uncompressed {
		ts = dicom.ExplicitVRLittleEndian // frames are sent little endian
	}
	header := textproto.MIMEHeader{"Content-Type": {f.MediaType + "; transfer-syntax=" + ts}}
	mw := startMultipart(c, f.MediaType)
	url := base + "/studies/" + c.Param("study") + "/series/" + c.Param("series") + "/instances/" + c.Param("instance")
	if bulk && uncompressed {
		h := textproto.MIMEHeader{"Content-Type": header["Content-Type"], "Content-Location": {url + "/bulkdata/" + dicom.PixelData.Hex()}}
		pw, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		if err := f.Each(ctx, func(_ int, frame io.Reader) error { return sendBody(pw, frame) }); err != nil {
			return err
		}
		return mw.Close()
	}
	err = f.Each(ctx, func(n int, frame io.Reader) error {
		h := textproto.MIMEHeader{"Content-Type": header["Content-Type"], "Content-Location": {fmt.Sprintf("%s/frames/%d", url, n)}}
		pw, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		return sendBody(pw, frame)
	})
	if err != nil {
		return err
	}
	return mw.Close()
}

// bulkdata is the target of a metadata BulkDataURI: a binary value of an
// instance's header, or its Pixel Data.
func (s *Server) bulkdata(c *gin.Context) error {
	path := strings.Trim(c.Param("path"), "/")
	if strings.EqualFold(path, dicom.PixelData.Hex()) {
		return s.sendFrames(c, nil, true)
	}
	policy, id, _, err := s.viewRef(c)
	if err != nil {
		return err
	}
	if _, err := frameNegotiation(c.GetHeader("Accept")); err != nil {
		return notAcceptable(c.GetHeader("Accept"), `multipart/related; type="application/octet-stream"`)
	}
	value, _, err := s.catalog.BulkData(c.Request.Context(), principal(c), policy, id, selection(c), path)
	if err != nil {
		return err
	}
	mw := startMultipart(c, "application/octet-stream")
	pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/octet-stream"}, "Content-Length": {fmt.Sprint(len(value))}})
	if err != nil {
		return err
	}
	if _, err := pw.Write(value); err != nil {
		return err
	}
	return mw.Close()
}

// The default bounds of a thumbnail.
const thumbnailSize = 200

// rendered is a rendered (or thumbnail) resource: one frame as image/jpeg
// or image/png, with the window, viewport and quality of the query.
func (s *Server) rendered(thumbnail bool) func(*gin.Context) error {
	return func(c *gin.Context) error {
		policy, id, _, err := s.viewRef(c)
		if err != nil {
			return err
		}
		mt, err := renderedType(c.GetHeader("Accept"))
		if err != nil {
			return err
		}
		opt, err := renderOptions(c, thumbnail)
		if err != nil {
			return err
		}
		frame := 0
		if c.Param("frames") != "" {
			numbers, err := catalog.ParseFrameList(c.Param("frames"))
			if err != nil {
				return err
			}
			if len(numbers) != 1 {
				return trialgate.Errorf(trialgate.EInvalid, "a rendered frame resource takes one frame number, not %d", len(numbers))
			}
			frame = numbers[0]
		} else if !thumbnail && c.Param("instance") != "" {
			frame = 1
		}
		img, err := s.catalog.Render(c.Request.Context(), principal(c), policy, id, selection(c), frame, opt)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := render.Encode(&buf, img, mt, opt.Quality); err != nil {
			return fmt.Errorf("api: encode rendered image: %w", err)
		}
		c.Data(http.StatusOK, mt, buf.Bytes())
		return nil
	}
}

// renderOptions reads the query of a rendered resource (PS3.18 8.3.5).
func renderOptions(c *gin.Context, thumbnail bool) (render.Options, error) {
	var opt render.Options
	q := c.Request.URL.Query()
	for k := range q {
		switch k {
		case "window", "viewport", "quality":
		case "annotation":
			return opt, trialgate.Errorf(trialgate.EInvalid, "annotation: burned-in annotations are not rendered here (the images are de-identified)")
		default:
			return opt, trialgate.Errorf(trialgate.EInvalid, "query parameter %q is not one of window, viewport, quality", clip(k))
		}
	}
	var err error
	if w := q.Get("window"); w != "" {
		if opt.Window, err = render.ParseWindow(w); err != nil {
			return opt, err
		}
	}
	if v := q.Get("viewport"); v != "" {
		if opt.Viewport, err = render.ParseViewport(v); err != nil {
			return opt, err
		}
	} else if thumbnail {
		opt.Viewport = render.Viewport{Width: thumbnailSize, Height: thumbnailSize}
	}
	if v := q.Get("quality"); v != "" {
		if opt.Quality, err = render.ParseQuality(v); err != nil {
			return opt, err
		}
	}
	return opt, nil
}
