package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/lock"
)

// lockID reads the :id parameter of the lock routes.
func lockID(c *gin.Context) (string, error) {
	id := c.Param("id")
	if !trialgate.ValidID(id) {
		return "", trialgate.Errorf(trialgate.EInvalid, "path parameter id: not a valid lock id")
	}
	return id, nil
}

// applyLock is POST /api/v1/trials/{trial}/locks: 201 with the lock, its
// manifest root and the receipt of its audit entry.
func (s *Server) applyLock(c *gin.Context) error {
	id, err := trialID(c)
	if err != nil {
		return err
	}
	var req lock.ApplyInput
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	l, err := s.locks.Apply(c.Request.Context(), principal(c), id, req)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, l)
	return nil
}

// releaseLock is POST /api/v1/locks/{id}/release: one release signature;
// the lock is released when the last one the trial requires is given.
func (s *Server) releaseLock(c *gin.Context) error {
	id, err := lockID(c)
	if err != nil {
		return err
	}
	var req lock.ReleaseInput
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	l, err := s.locks.Release(c.Request.Context(), principal(c), id, req)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, l)
	return nil
}

// trialLocks is GET /api/v1/trials/{trial}/locks: every lock, in force or
// released, oldest first.
func (s *Server) trialLocks(c *gin.Context) error {
	id, err := trialID(c)
	if err != nil {
		return err
	}
	ls, err := s.locks.List(c.Request.Context(), principal(c), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"locks": ls})
	return nil
}

// lockManifest is GET /api/v1/locks/{id}/manifest: the lock with its root
// and leaves.
func (s *Server) lockManifest(c *gin.Context) error {
	id, err := lockID(c)
	if err != nil {
		return err
	}
	m, err := s.locks.Manifest(c.Request.Context(), principal(c), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"lock": m.Lock, "root": m.Lock.Root, "leaves": m.Leaves})
	return nil
}

// verifyLock is GET /api/v1/locks/{id}/verify: the manifest recomputed
// from the data now in the scope and compared.
func (s *Server) verifyLock(c *gin.Context) error {
	id, err := lockID(c)
	if err != nil {
		return err
	}
	cmp, err := s.locks.Verify(c.Request.Context(), principal(c), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, cmp)
	return nil
}
