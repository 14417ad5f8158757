package crud

import "go.mongodb.org/mongo-driver/v2/bson"

// Stages decodes and checks the stages of a pipeline that is not an
// Aggregate's (a change stream's), as Aggregate checks its own: each a
// document of one field, its stage name, with no server-side JavaScript.
// field is the stages' field path, for errors.
func Stages(field string, ds []Document) ([]bson.Raw, error) {
	stages, err := listArg(field, ds)
	if err != nil {
		return nil, err
	}
	for i, s := range stages {
		if err := checkStage(prefixed(field, i), s); err != nil {
			return nil, err
		}
	}
	return stages, nil
}
