// Protobuf messages to and from the opaque gRPC byte buffers the proxy forwards, for code
// that answers or rewrites calls (the gates, the agent's health answers).
#ifndef LAYERSEAL_PLUGIN_MESSAGE_BYTES_H_
#define LAYERSEAL_PLUGIN_MESSAGE_BYTES_H_

#include <google/protobuf/message.h>
#include <grpcpp/support/byte_buffer.h>

namespace layerseal::plugin {

// False if the buffer cannot be read or is not a `message`.
bool ParseMessage(const grpc::ByteBuffer& buffer, google::protobuf::Message* message);
grpc::ByteBuffer SerializeMessage(const google::protobuf::Message& message);

}  // namespace layerseal::plugin

#endif  // LAYERSEAL_PLUGIN_MESSAGE_BYTES_H_
