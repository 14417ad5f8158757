package server

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/mongogate/mongogate/crud"
	pb "github.com/mongogate/mongogate/gen/mongogate/v1"
)

// commonOptionsFromProto finds each option by its getter, so a message
// that spelled one differently would silently lose it. Every field of
// every message named as a crud.CommonOptions field must arrive.
func TestCommonOptionsFromProtoTakesEveryField(t *testing.T) {
	common := []protoreflect.Name{"max_time", "projection", "sort", "hint", "hint_name", "let", "collation", "comment", "bypass_document_validation"}
	msgs := pb.File_mongogate_v1_document_proto.Messages()
	seen := 0
	for i := range msgs.Len() {
		md := msgs.Get(i)
		for _, name := range common {
			fd := md.Fields().ByName(name)
			if fd == nil {
				continue
			}
			seen++
			t.Run(string(md.Name())+"."+string(name), func(t *testing.T) {
				mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
				if err != nil {
					t.Fatal(err)
				}
				m := mt.New()
				m.Set(fd, optionValue(t, m, fd))
				c, err := commonOptionsFromProto(m.Interface())
				if err != nil {
					t.Fatal(err)
				}
				if c == (crud.CommonOptions{}) {
					t.Errorf("%s set, CommonOptions empty", fd.FullName())
				}
			})
		}
	}
	if seen == 0 {
		t.Fatal("no message has a common option")
	}
}

// optionValue is a value for fd that converts to a set option.
func optionValue(t *testing.T, m protoreflect.Message, fd protoreflect.FieldDescriptor) protoreflect.Value {
	t.Helper()
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString("x")
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.MessageKind:
		switch fd.Message().FullName() {
		case "mongogate.v1.Document":
			return protoreflect.ValueOfMessage((&pb.Document{Value: &pb.Document_Json{Json: "{}"}}).ProtoReflect())
		case "google.protobuf.Duration":
			return protoreflect.ValueOfMessage(durationpb.New(1e9).ProtoReflect())
		}
	}
	t.Fatalf("no sample for %s (%v)", fd.FullName(), fd.Kind())
	return m.Get(fd)
}
