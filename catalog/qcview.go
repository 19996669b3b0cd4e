package catalog

import (
	"context"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
)

// QCView returns the policy of the trial's QC view (/dicomweb/trials/{trial}),
// whose ref is the trial id: the de-identified objects as stored, for the
// trial's QC reviewers, who also see the instances held for burned-in text
// review (reviewing them is their job), and for its data managers, who see
// released instances only. Refusals are recorded in d.
func QCView(d *db.DB) Policy { return qcView{db: d} }

type qcView struct{ db *db.DB }

func (q qcView) Open(ctx context.Context, p *auth.Principal, trialID string, target audit.Object) (*View, error) {
	scope := db.TrialScope(trialID)
	role, err := auth.Require(ctx, q.db, p, scope, target,
		"only the trial's QC reviewers and data managers may view its images", auth.QCReviewer, auth.DataManager)
	if err != nil {
		return nil, err
	}
	v := &View{Scope: scope, Role: role, States: []string{"released"}}
	if role == auth.QCReviewer {
		v.States = []string{"released", "held"}
	}
	return v, nil
}
