package testbackend

import (
	"errors"
	"os"
	"path/filepath"
)

// RepoRoot is the nearest directory above the working directory that holds
// go.mod: the repository root, where go test runs a package from its own
// directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
