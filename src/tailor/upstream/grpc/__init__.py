"""gRPC upstreams behind tailor's transport seam.

An upstream whose configured URL is ``grpc://host:port`` is called over gRPC (``grpcs://``:
over TLS; ``connect://``: the Connect protocol over HTTP/1.1, same contracts); the BFF's plans
do not change. Its
service (``grpc.services.<upstream>``) is looked up in the configured descriptor sets
(``grpc.descriptor_sets``), and each ``google.api.http`` rule of the service says which method
answers which of the JSON routes a part calls: ``GET /users/{user_id}`` is
``UsersService.GetUser(user_id=...)``. The pieces, one job each:

- :mod:`~tailor.upstream.grpc.descriptors`: descriptor sets -> message classes and the
  bindings of http rules to methods (an unmappable rule stops startup naming the method);
- :mod:`~tailor.upstream.grpc.messages`: a consumed msgspec struct -> the ``read_mask`` it
  needs, and a compiled converter from the response message into that struct;
- :mod:`~tailor.upstream.grpc.status`: gRPC status codes and ``google.rpc.Status`` details
  -> HTTP statuses and :class:`~tailor.upstream.grpc.status.GrpcStatusError`;
- :mod:`~tailor.upstream.grpc.transport`: the transport (gRPC over tailor's HTTP/2 client,
  :mod:`~tailor.upstream.grpc.h2`, or the Connect protocol over tailor's HTTP/1.1 transport);
- :mod:`~tailor.upstream.grpc.tls`: the TLS client context of ``grpcs://`` upstreams and the
  ALPN check of a finished handshake.
"""
