package reads

import (
	"context"
	"errors"
	"fmt"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/catalog"
	"github.com/trialgate/trialgate/db"
)

// ReaderView returns the catalogue policy of the blinded reader view
// (/dicomweb/reads/{task}), whose ref is a read task: the released
// instances of the task's case, for the task's own reader only, every
// header rewritten on its way out by the case's Blinder. A request for
// anything else, by anyone, is answered as if the task did not exist
// (trialgate.ENotFound) and recorded as denied, naming what was asked.
func (s *Service) ReaderView() catalog.Policy { return readerView{s} }

type readerView struct{ s *Service }

func (v readerView) Open(ctx context.Context, p *auth.Principal, taskID string, target audit.Object) (*catalog.View, error) {
	s := v.s
	var t task
	err := s.db.Read(ctx, func(r *db.Reader) error {
		var err error
		t, err = scanTask(r.QueryRow(ctx, selectTask, taskID))
		return err
	})
	deny := func(scope db.Scope, why string) error {
		role, _ := p.Allows(scope.Trial, "", auth.Reader, auth.Adjudicator)
		err := s.db.Record(ctx, p.Actor(role), scope, audit.Event{Action: audit.ActionAccessDenied, Object: target,
			Outcome: audit.Denied, Reason: fmt.Sprintf("%s: read task %s", why, clip(taskID))})
		if err != nil && !errors.Is(err, db.ErrNoTrial) {
			return err
		}
		return noTask(taskID)
	}
	switch {
	case isNoRows(err):
		return nil, deny(db.System, "no such read task")
	case err != nil:
		return nil, fmt.Errorf("reads: read task: %w", err)
	case !p.Is(t.Reader) || !p.Has(t.role(), t.Trial, ""):
		return nil, deny(db.TrialScope(t.Trial), "not the caller's read task")
	}
	c, points, cfg, err := s.taskCase(ctx, t)
	if err != nil {
		return nil, err
	}
	b, subs, err := s.blinder(ctx, c, points, cfg)
	if err != nil {
		return nil, err
	}
	return &catalog.View{Scope: c.scope(), Role: t.role(), States: []string{"released"}, Submissions: subs, Rewrite: b.Rewrite}, nil
}

// blinder builds the rewrite of a case's headers and lists the case's
// submissions.
func (s *Service) blinder(ctx context.Context, c readCase, points []timepoint, cfg *TrialConfig) (*Blinder, []string, error) {
	labels := map[string]string{}
	var subs []string
	err := s.db.Read(ctx, func(r *db.Reader) error {
		for _, tp := range points {
			for _, sub := range tp.Submissions {
				subs = append(subs, sub)
				uids, err := queryAll(ctx, r, selectStudies, func(r row) (string, error) {
					var u string
					err := r.Scan(&u)
					return u, err
				}, sub)
				if err != nil {
					return fmt.Errorf("reads: read studies: %w", err)
				}
				for _, u := range uids {
					labels[u] = tp.Label
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	// What a reader must not learn, wherever a site or a modality wrote
	// it into free text: the subject, the site, the visits.
	forbidden := []string{c.Subject, c.Site, cfg.siteName(c.Site)}
	for _, v := range cfg.Visits {
		forbidden = append(forbidden, v.ID, v.Name)
	}
	b := &Blinder{Code: c.Code, Blinding: cfg.Design.Blinding, ShiftDays: c.Shift, Timepoints: labels, Forbidden: forbidden}
	return b, subs, nil
}
