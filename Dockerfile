# One image for the whole stack, built from Debian 12: prom2gcm and gcm-emulator built from this
# repository, and Debian's prometheus and prometheus-node-exporter (installed by install-deps.sh).
FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/
RUN scripts/install-deps.sh
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build build -j"$(nproc)" --target prom2gcm gcm-emulator

FROM debian:12
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libcpp-httplib0.11 libprotobuf32 libsnappy1v5 libxxhash0 libgrpc++1.51 \
      libgoogle-glog0v6 libprometheus-cpp-core1.0 prometheus prometheus-node-exporter curl \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/prom2gcm /src/build/integration/gcm-emulator /usr/local/bin/
EXPOSE 9201
USER nobody
ENTRYPOINT ["/usr/local/bin/prom2gcm"]
