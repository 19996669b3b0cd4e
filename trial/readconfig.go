package trial

import (
	"context"
	"fmt"

	"github.com/trialgate/trialgate/reads"
)

// ReadConfig returns what the reads service needs of version n of a trial's
// definition (0: the approved version in force): its read design, sites and
// visits. It is how package reads sees trial definitions without importing
// this package, which imports reads to parse the design.
func (s *Service) ReadConfig(ctx context.Context, id string, n int) (*reads.TrialConfig, error) {
	var v Version
	var err error
	if n == 0 {
		v, err = s.Approved(ctx, id)
	} else {
		v, err = s.Load(ctx, id, n)
	}
	if err != nil {
		return nil, err
	}
	d, err := ParseDefinition(v.Definition)
	if err != nil {
		return nil, fmt.Errorf("trial: %s version %d: %w", id, v.Version, err)
	}
	c := &reads.TrialConfig{Trial: id, Version: v.Version, Design: &d.Reads}
	for _, site := range d.Sites {
		c.Sites = append(c.Sites, reads.Place{ID: site.ID, Name: site.Name})
	}
	for _, visit := range d.Visits {
		c.Visits = append(c.Visits, reads.Place{ID: visit.ID, Name: visit.Label})
	}
	return c, nil
}
