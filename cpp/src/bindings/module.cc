// _miniray_core: the C++ core of miniray as one Python extension module.
#include <pybind11/pybind11.h>

#include "bindings/bindings.h"

PYBIND11_MODULE(_miniray_core, m) {
  m.doc() = "miniray's C++ core: object store, node runtime, core worker.";
  miniray::RegisterStatus(m);
  miniray::RegisterMessages(m);
  miniray::RegisterObjectStore(m);
  miniray::RegisterNode(m);
  miniray::RegisterCoreWorker(m);
  miniray::RegisterGcs(m);
}
