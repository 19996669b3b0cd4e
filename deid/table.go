package deid

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/trialgate/trialgate/dicom"
)

// annexE is PS3.15 Table E.1-1 (2024b edition); see annex-e.md for its
// provenance.
//
//go:embed annex-e.json
var annexE []byte

// row is one row of Table E.1-1: the basic profile's action and, per
// option, the option's action ("" where the option does not change it).
type row struct {
	Tag     string            // "(gggg,eeee)", or a wildcard form
	Keyword string            // PS3.6 keyword, "" for some wildcard rows
	Basic   string            // D, Z, X, K, C, U or a conditional X/Z, X/D, Z/D, X/Z/D, X/Z/U*
	Options map[string]string // trial option constant -> "K" or "C"
}

// Wildcard rows. Their tags are matched by mask rather than exactly.
const (
	wildCurve          = "(50XX,XXXX)" // every element of the even groups 5000-501E
	wildOverlayData    = "(60XX,3000)" // overlay data of the even groups 6000-601E
	wildOverlayComment = "(60XX,4000)" // overlay comments of the even groups 6000-601E
	wildPrivate        = "(GGGG,EEEE)" // every private (odd group) attribute
)

// table returns the parsed table. It is parsed once and never modified:
// compiled profiles copy what they need from it.
var table = sync.OnceValues(func() ([]row, error) { return parseTable(annexE) })

// parseTable reads the embedded JSON into rows, checking every action code
// so that a damaged table fails New instead of silently keeping data.
func parseTable(data []byte) ([]row, error) {
	var raw []map[string]string
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("deid: annex E table: %w", err)
	}
	rows := make([]row, 0, len(raw))
	for i, m := range raw {
		r := row{Tag: m["tag"], Keyword: m["keyword"], Basic: m["basic"], Options: map[string]string{}}
		if _, err := parseAction(r.Basic); err != nil {
			return nil, fmt.Errorf("deid: annex E table row %d %s: %w", i, r.Tag, err)
		}
		for _, o := range Options() {
			switch v := m[o]; v {
			case "":
			case "K", "C":
				r.Options[o] = v
			default:
				return nil, fmt.Errorf("deid: annex E table row %d %s: option %s: unexpected action %q", i, r.Tag, o, v)
			}
		}
		if _, _, err := r.match(); err != nil {
			return nil, fmt.Errorf("deid: annex E table row %d: %w", i, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// match returns how the row's tag is matched: the exact tag, or for a
// wildcard row its mask and value (tag&mask == value).
func (r row) match() (mask, value dicom.Tag, err error) {
	switch r.Tag {
	case wildCurve:
		// Even groups 5000-501E: the group's low bit and bits 5-7 are zero.
		return 0xFFE1_0000, 0x5000_0000, nil
	case wildOverlayData:
		return 0xFFE1_FFFF, 0x6000_3000, nil
	case wildOverlayComment:
		return 0xFFE1_FFFF, 0x6000_4000, nil
	case wildPrivate:
		return 0x0001_0000, 0x0001_0000, nil
	}
	s := strings.Trim(r.Tag, "()")
	g, e, ok := strings.Cut(s, ",")
	gn, err1 := strconv.ParseUint(g, 16, 16)
	en, err2 := strconv.ParseUint(e, 16, 16)
	if !ok || err1 != nil || err2 != nil || len(g) != 4 || len(e) != 4 {
		return 0, 0, fmt.Errorf("tag %q is neither (gggg,eeee) nor a known wildcard", r.Tag)
	}
	return 0xFFFF_FFFF, dicom.NewTag(uint16(gn), uint16(en)), nil
}
