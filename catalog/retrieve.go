package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/dicom"
)

// A Negotiator picks the transfer syntax an instance stored in syntax
// stored is sent in, from what the client accepts and what can be done
// without loss (dicom.CanTranscode, Decompresses); ok is false when there
// is none.
type Negotiator func(stored dicom.Syntax) (send dicom.Syntax, ok bool)

// Part is one instance of a retrieval as it is sent.
type Part struct {
	Instance string
	Syntax   dicom.Syntax // the transfer syntax it is sent in
	Size     int64        // its length, or -1 when it is re-encoded on the way
}

// Retrieval is a retrieval of instances (WADO-RS), already negotiated and
// recorded, ready to stream.
type Retrieval struct {
	c    *Catalog
	v    *View
	rows []stored
	send []dicom.Syntax
}

// Retrieve selects the instances of a study, a series or one instance in
// the view that policy opens for ref, picks each one's transfer syntax
// with negotiate (ENotAcceptable naming the stored syntax when one cannot
// be sent as asked: nothing is then sent or recorded), and records the
// retrieval before any byte is sent.
func (c *Catalog) Retrieve(ctx context.Context, p *auth.Principal, policy Policy, ref string, sel Selection, negotiate Negotiator) (*Retrieval, error) {
	v, rows, err := c.open(ctx, p, policy, ref, sel)
	if err != nil {
		return nil, err
	}
	r := &Retrieval{c: c, v: v, rows: rows, send: make([]dicom.Syntax, len(rows))}
	var shas []string
	for i, row := range rows {
		stored, err := dicom.LookupSyntax(row.syntax)
		if err != nil {
			return nil, fmt.Errorf("catalog: instance %s: stored transfer syntax: %w", row.sop, err)
		}
		send, ok := negotiate(stored)
		if !ok {
			return nil, trialgate.Errorf(trialgate.ENotAcceptable,
				"instance %s is stored in transfer syntax %s, which cannot be converted to any the request accepts without loss; ask for transfer-syntax=%s or transfer-syntax=*",
				row.sop, stored.UID, stored.UID)
		}
		r.send[i] = send
		shas = append(shas, row.objectSHA)
	}
	after := map[string]any{"what": sel.object().Type, "instances": len(rows)}
	if len(rows) == 1 {
		after["object_sha256"] = shas[0]
		after["transfer_syntax"] = r.send[0].UID
	} else {
		after["object_sha256"] = shas
	}
	if err := c.record(ctx, p, v, audit.Event{Action: audit.ActionInstanceRetrieved, Object: sel.object(), After: after}); err != nil {
		return nil, err
	}
	return r, nil
}

// Len is the number of instances.
func (r *Retrieval) Len() int { return len(r.rows) }

// Each streams every instance to fn in order. A stored object is verified
// against its SHA-256 as it is read, so a corrupt one fails the read
// rather than reaching the client intact-looking; one sent as stored
// carries its length.
func (r *Retrieval) Each(ctx context.Context, fn func(Part, io.Reader) error) error {
	for i := range r.rows {
		row := &r.rows[i]
		part := Part{Instance: row.sop, Syntax: r.send[i], Size: -1}
		if r.v.Rewrite == nil && r.send[i].UID == row.syntax {
			key, err := row.key()
			if err != nil {
				return err
			}
			rc, err := r.c.store.Get(ctx, key)
			if err != nil {
				return err
			}
			part.Size = row.size
			err = fn(part, rc)
			rc.Close()
			if err != nil {
				return err
			}
			continue
		}
		obj, src, err := r.c.openObject(ctx, r.v, row)
		if err != nil {
			return err
		}
		enc := encode(obj, src, r.send[i], r.v.Rewrite)
		err = fn(part, enc)
		enc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// encoding is an object being re-encoded through a pipe.
type encoding struct {
	*io.PipeReader
	done chan struct{}
}

// encode streams obj (its header already rewritten) re-encoded in syntax
// to through a pipe: the header encoded anew, Pixel Data copied (or
// converted, as dicom.Object.WriteAs does, or decompressed, see
// writeDecompressed) from the stored object src, the elements after it
// rewritten too. The writer owns src and closes it.
func encode(obj *dicom.Object, src io.Closer, to dicom.Syntax, rewrite func(*dicom.Dataset) error) *encoding {
	pr, pw := io.Pipe()
	e := &encoding{PipeReader: pr, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		var err error
		if Decompresses(obj.Syntax, to) {
			err = writeDecompressed(pw, obj, to)
		} else {
			_, err = obj.WriteAs(pw, to, rewrite)
		}
		src.Close()
		pw.CloseWithError(err)
	}()
	return e
}

// Close stops the encoding if the reader left early and waits for the
// writer to finish with the stored object.
func (e *encoding) Close() error {
	e.PipeReader.Close()
	<-e.done
	return nil
}

// Metadata returns the DICOM JSON metadata of every instance of a study, a
// series or one instance (WADO-RS) in the view that policy opens for ref,
// recorded as a retrieval. base is the absolute URL of the view's
// DICOMweb service: binary values longer than InlineLimit bytes, and the
// Pixel Data, are given as BulkDataURI under it.
func (c *Catalog) Metadata(ctx context.Context, p *auth.Principal, policy Policy, ref string, sel Selection, base string) ([]map[string]json.RawMessage, error) {
	if err := sel.validate(); err != nil {
		return nil, err
	}
	v, err := policy.Open(ctx, p, ref, sel.target())
	if err != nil {
		return nil, err
	}
	var rows []stored
	var out []map[string]json.RawMessage
	err = c.headers(ctx, v, sel, true, func(r stored, md map[string]json.RawMessage) error {
		uri := base + "/studies/" + r.study + "/series/" + r.series + "/instances/" + r.sop + "/bulkdata/"
		md, err := bulkify(md, uri)
		if err != nil {
			return fmt.Errorf("catalog: instance %s: metadata: %w", r.sop, err)
		}
		if _, ok := md["00280010"]; ok {
			// Rows is there, so is Pixel Data (ingest refuses image
			// objects without it); it is never in the stored header.
			vr := "OW"
			if s, err := dicom.LookupSyntax(r.syntax); err == nil && s.Encapsulated || firstNumber(md, "00280100") <= 8 {
				vr = "OB"
			}
			b, _ := json.Marshal(map[string]string{"vr": vr, "BulkDataURI": uri + dicom.PixelData.Hex()})
			md[dicom.PixelData.Hex()] = b
		}
		rows = append(rows, r)
		out = append(out, md)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, trialgate.Errorf(trialgate.ENotFound, "no %s in this view", sel.what())
	}
	err = c.record(ctx, p, v, audit.Event{Action: audit.ActionInstanceRetrieved, Object: sel.object(),
		After: map[string]any{"what": "metadata", "instances": len(rows)}})
	return out, err
}

// InlineLimit is the longest binary value metadata carries inline; longer
// ones are referenced by BulkDataURI.
const InlineLimit = 1024

// bulkify replaces the InlineBinary of long binary values in a DICOM JSON
// object, at any depth, by a BulkDataURI: uri followed by the element's
// path (see parseBulkPath).
func bulkify(md map[string]json.RawMessage, uri string) (map[string]json.RawMessage, error) {
	for tag, raw := range md {
		if !hasBinary(raw) {
			continue
		}
		var el struct {
			VR           string            `json:"vr"`
			InlineBinary string            `json:"InlineBinary"`
			Value        []json.RawMessage `json:"Value"`
		}
		if err := json.Unmarshal(raw, &el); err != nil {
			return nil, err
		}
		switch {
		case el.VR == "SQ":
			for i, item := range el.Value {
				var it map[string]json.RawMessage
				if err := json.Unmarshal(item, &it); err != nil {
					return nil, err
				}
				it, err := bulkify(it, uri+tag+"/"+strconv.Itoa(i+1)+"/")
				if err != nil {
					return nil, err
				}
				if el.Value[i], err = json.Marshal(it); err != nil {
					return nil, err
				}
			}
			b, err := json.Marshal(map[string]any{"vr": "SQ", "Value": el.Value})
			if err != nil {
				return nil, err
			}
			md[tag] = b
		case len(el.InlineBinary)/4*3 > InlineLimit:
			b, _ := json.Marshal(map[string]string{"vr": el.VR, "BulkDataURI": uri + tag})
			md[tag] = b
		}
	}
	return md, nil
}

// parseBulkPath reads the path of a BulkDataURI: tags (GGGGEEEE) and,
// after each sequence, the 1-based number of the item, separated by
// slashes ("00540016/1/00181072").
func parseBulkPath(s string) ([]dicom.Tag, []int, error) {
	parts := strings.Split(strings.Trim(s, "/"), "/")
	if len(parts)%2 == 0 {
		return nil, nil, trialgate.Errorf(trialgate.EInvalid, "bulk data path %q must be tags with item numbers between them", clip(s))
	}
	var tags []dicom.Tag
	var items []int
	for i, p := range parts {
		if i%2 == 1 {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 {
				return nil, nil, trialgate.Errorf(trialgate.EInvalid, "bulk data path %q: %q is not an item number", clip(s), clip(p))
			}
			items = append(items, n)
			continue
		}
		t, err := dicom.ParseTag(p)
		if err != nil || len(p) != 8 {
			return nil, nil, trialgate.Errorf(trialgate.EInvalid, "bulk data path %q: %q is not a tag (GGGGEEEE)", clip(s), clip(p))
		}
		tags = append(tags, t)
	}
	return tags, items, nil
}

// firstNumber returns the first numeric value of a tag in a DICOM JSON
// object, or 0.
func firstNumber(md map[string]json.RawMessage, tag string) float64 {
	var el struct{ Value []float64 }
	if raw, ok := md[tag]; ok && json.Unmarshal(raw, &el) == nil && len(el.Value) > 0 {
		return el.Value[0]
	}
	return 0
}

// BulkData returns the value of one binary element of an instance's header
// (a BulkDataURI of its metadata), recorded as a retrieval. path is the
// part of the URI after /bulkdata/. The Pixel Data is not here: it is the
// instance's frames (see Frames).
func (c *Catalog) BulkData(ctx context.Context, p *auth.Principal, policy Policy, ref string, sel Selection, path string) ([]byte, string, error) {
	tags, items, err := parseBulkPath(path)
	if err != nil {
		return nil, "", err
	}
	v, rows, err := c.open(ctx, p, policy, ref, sel)
	if err != nil {
		return nil, "", err
	}
	obj, src, err := c.openObject(ctx, v, &rows[0])
	if err != nil {
		return nil, "", err
	}
	src.Close()
	ds := obj.Dataset
	var el *dicom.Element
	for i, t := range tags {
		if el = ds.Get(t); el == nil {
			return nil, "", trialgate.Errorf(trialgate.ENotFound, "instance %s has no %s at %s", sel.Instance, t, clip(path))
		}
		if i < len(items) {
			if !el.IsSequence() || items[i] > len(el.Items) {
				return nil, "", trialgate.Errorf(trialgate.ENotFound, "instance %s has no item %d of %s", sel.Instance, items[i], t)
			}
			ds = el.Items[items[i]-1]
		}
	}
	if el.IsSequence() || dicom.IsStringVR(el.VR) {
		return nil, "", trialgate.Errorf(trialgate.ENotFound, "%s of instance %s is not bulk data", el.Tag, sel.Instance)
	}
	err = c.record(ctx, p, v, audit.Event{Action: audit.ActionInstanceRetrieved, Object: sel.object(),
		After: map[string]any{"what": "bulkdata", "path": path}})
	if err != nil {
		return nil, "", err
	}
	return slices.Clone(el.Value), obj.Syntax.UID, nil
}
