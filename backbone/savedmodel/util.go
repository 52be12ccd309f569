package savedmodel

import (
	typb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"
	vpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/versions_go_proto"

	"github.com/graft-ml/graft/backbone/tensor"
)

func dtypeProto(dt tensor.DType) typb.DataType { return typb.DataType(dt) }

func versionDef(producer, minConsumer int32) *vpb.VersionDef {
	return &vpb.VersionDef{Producer: producer, MinConsumer: minConsumer}
}
