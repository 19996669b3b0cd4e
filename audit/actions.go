package audit

// Action is an audit action code from the controlled vocabulary below. Codes
// are stable: once an entry carries one it is part of the record, so a code
// is never renamed or reused; a test enforces the registry's form.
type Action string

// The registered actions. Add new codes here, with their description in
// Actions.
const (
	ActionSchemaMigrated Action = "schema.migrated"
	ActionClockAnomaly   Action = "clock.anomaly"

	ActionAuditQueried  Action = "audit.queried"
	ActionAuditVerified Action = "audit.verified"

	ActionAccessDenied       Action = "access.denied"
	ActionAccessDeniedLocked Action = "access.denied_locked"
	ActionAccessAfterLock    Action = "access.after_lock"

	ActionLockApplied       Action = "lock.applied"
	ActionLockReleaseSigned Action = "lock.release_signed"
	ActionLockReleased      Action = "lock.released"
	ActionLockVerified      Action = "lock.verified"
	ActionLockViewed        Action = "lock.viewed"
	ActionLockRetained      Action = "lock.retained"
	ActionLockRetentionLift Action = "lock.retention_lifted"

	ActionLogin        Action = "auth.login"
	ActionLogout       Action = "auth.logout"
	ActionLockedOut    Action = "auth.locked_out"
	ActionTokenExpired Action = "auth.token_expired"

	ActionSessionRevoked Action = "auth.session_revoked"
	ActionFailuresReset  Action = "auth.failures_reset"
	ActionSignFailed     Action = "esign.failed"

	ActionUserCreated     Action = "user.created"
	ActionUserGrantAdded  Action = "user.grant_added"
	ActionUserGrantRevoke Action = "user.grant_revoked"
	ActionUserDeactivated Action = "user.deactivated"
	ActionUserActivated   Action = "user.activated"
	ActionUserUnlocked    Action = "user.unlocked"

	ActionUserAffiliationAdded   Action = "user.affiliation_added"
	ActionUserAffiliationRemoved Action = "user.affiliation_removed"

	ActionTrialCreated  Action = "trial.created"
	ActionTrialChanged  Action = "trial.changed"
	ActionTrialApproved Action = "trial.approved"

	ActionSubmissionCreated    Action = "submission.created"
	ActionSubmissionCompleted  Action = "submission.completed"
	ActionSubmissionViewed     Action = "submission.viewed"
	ActionInstanceReceived     Action = "instance.received"
	ActionInstanceDeidentified Action = "instance.deidentified"
	ActionInstanceQuarantined  Action = "instance.quarantined"
	ActionInstanceDuplicate    Action = "instance.duplicate"
	ActionInstanceRejected     Action = "instance.rejected"
	ActionInstanceConflict     Action = "instance.conflict"
	ActionInstanceReviewed     Action = "instance.reviewed"
	ActionInstanceRetrieved    Action = "instance.retrieved"
	ActionStudiesQueried       Action = "dicomweb.queried"
	ActionQCEvaluated          Action = "qc.evaluated"
	ActionQCDecided            Action = "qc.decided"

	ActionReadCaseCreated    Action = "read.case_created"
	ActionReadAssignmentRun  Action = "read.assignment_run"
	ActionReadAssigned       Action = "read.assigned"
	ActionReadReassigned     Action = "read.reassigned"
	ActionReadTasksListed    Action = "read.tasks_listed"
	ActionReadTaskViewed     Action = "read.task_viewed"
	ActionReadDraftSaved     Action = "read.draft_saved"
	ActionReadSigned         Action = "read.signed"
	ActionReadCaseEvaluated  Action = "read.case_evaluated"
	ActionReadAdjudicated    Action = "read.adjudicated"
	ActionReadsReleased      Action = "reads.released"
	ActionReadsExported      Action = "reads.exported"
	ActionReadsAgreementRead Action = "reads.agreement_viewed"
)

// Actions describes every registered action.
var Actions = map[Action]string{
	ActionSchemaMigrated: "a database schema migration was applied",
	ActionClockAnomaly:   "the server clock went backwards; times were held non-decreasing",

	ActionAuditQueried:  "audit entries were viewed or exported",
	ActionAuditVerified: "the audit trail was verified",

	ActionAccessDenied:       "a request was refused for missing or insufficient credentials",
	ActionAccessDeniedLocked: "a change was refused because its scope is locked; after holds the attempted action",
	ActionAccessAfterLock:    "locked data was read (viewed, queried or exported); after names the read and the locks",

	ActionLockApplied:       "a data lock was applied with an electronic signature; after holds its manifest root",
	ActionLockReleaseSigned: "a signer signed the release of a data lock, which waits for its second signer",
	ActionLockReleased:      "a data lock was released with an electronic signature and a reason",
	ActionLockVerified:      "a data lock's manifest was recomputed and compared",
	ActionLockViewed:        "data locks or a lock's manifest were viewed",
	ActionLockRetained:      "the stored objects of a data lock got WORM retention at the object store; after holds mode, end and count",
	ActionLockRetentionLift: "after a lock's release, the WORM retention of its objects was lifted where permitted; after counts lifted and kept",

	ActionLogin:        "a login attempt (outcome says whether it succeeded)",
	ActionLogout:       "a session was ended by its user",
	ActionLockedOut:    "an account was locked after repeated failed logins",
	ActionTokenExpired: "a request presented an expired session",

	ActionSessionRevoked: "a session was ended because its account was deactivated",
	ActionFailuresReset:  "a correct password at signing reset the count of consecutive failed attempts",
	ActionSignFailed:     "an electronic signature was refused (wrong password, locked or inactive account)",

	ActionUserCreated:     "an account was created",
	ActionUserGrantAdded:  "a role grant was added to an account",
	ActionUserGrantRevoke: "a role grant was revoked from an account",
	ActionUserDeactivated: "an account was deactivated",
	ActionUserUnlocked:    "an administrator lifted an account's lockout and cleared its failed password attempts",
	ActionUserActivated:   "an account was reactivated",

	ActionUserAffiliationAdded:   "an account was recorded as belonging to a site of a trial (it never reads that site's cases)",
	ActionUserAffiliationRemoved: "an account's affiliation with a site of a trial was ended",

	ActionTrialCreated:  "a trial was defined (its definition version 1)",
	ActionTrialChanged:  "a trial definition was changed: a new version, with a reason",
	ActionTrialApproved: "a trial definition version was approved by electronic signature",

	ActionSubmissionCreated:    "a site opened a submission for a subject's visit",
	ActionSubmissionCompleted:  "a site closed a submission for upload; series and visit QC ran",
	ActionSubmissionViewed:     "a submission, its instances and QC results were viewed",
	ActionInstanceReceived:     "an instance was received: its original's SHA-256 and size are the proof of receipt",
	ActionInstanceDeidentified: "an instance was de-identified and stored: profile, options, counts and the new SHA-256",
	ActionInstanceQuarantined:  "a de-identified instance was held for burned-in text review instead of being released",
	ActionInstanceDuplicate:    "an upload repeated an instance already received; nothing changed",
	ActionInstanceRejected:     "an uploaded part was refused (reason given); nothing was stored",
	ActionInstanceConflict:     "an upload was refused because its SOP instance was already received for another subject, visit or trial: a serious site error (both sides named where allowed)",
	ActionInstanceReviewed:     "a held instance was released or rejected after burned-in text review",
	ActionInstanceRetrieved:    "de-identified instances or their metadata were retrieved (WADO-RS)",
	ActionStudiesQueried:       "studies, series or instances were searched (QIDO-RS)",
	ActionQCEvaluated:          "QC rules were evaluated (per instance at upload, per series and visit at completion)",
	ActionQCDecided:            "a QC reviewer accepted, rejected or queried a completed submission, with a reason",

	ActionReadCaseCreated:    "accepted visits became a blinded read case with a random case code",
	ActionReadAssignmentRun:  "a data manager ran the read assignment: seed, algorithm and what it was given",
	ActionReadAssigned:       "a case's read or adjudication tasks were given to readers (one entry per case, naming each task, reader and slot)",
	ActionReadReassigned:     "an unstarted read task was given to another reader, with a reason",
	ActionReadTasksListed:    "a reader listed their own blinded read tasks",
	ActionReadTaskViewed:     "a read task, its form and its results were viewed",
	ActionReadDraftSaved:     "a reader saved the draft of a read (a change to a signed read carries its reason)",
	ActionReadSigned:         "a read or an adjudication was signed: a new version, bound to its SHA-256",
	ActionReadCaseEvaluated:  "the two signed reads of a case were compared by the adjudication rule: concordant or discordant",
	ActionReadAdjudicated:    "a case's outcome was settled: a single read, concordant reads, or an adjudication",
	ActionReadsReleased:      "a data manager released a trial's read results to the sponsor's roles, by electronic signature",
	ActionReadsExported:      "a trial's reads (every version, signatures, adjudications) were exported",
	ActionReadsAgreementRead: "the reader-variability statistics of a trial were viewed",
}

// Known reports whether a is a registered action.
func Known(a Action) bool {
	_, ok := Actions[a]
	return ok
}
