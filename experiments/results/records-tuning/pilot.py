import sys, time, json, numpy as np
from threadpoolctl import threadpool_limits
from bpnn.nn.network import Network
from bpnn.augment import parse_augment
import bpnn.datasets as d
name, dropout, indrop, aug, epochs, eta = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
threads = int(sys.argv[7]) if len(sys.argv) > 7 else 1
ds = d.load(sys.argv[8] if len(sys.argv) > 8 else "mnist", validation=10000)
net = Network([784,1024,1024,10], activation="relu", output_activation="softmax", cost="cross_entropy", init="he_normal",
              dropout=dropout, input_dropout=indrop, seed=0)
t0=time.perf_counter()
with threadpool_limits(threads):
    net.fit(ds.train.X, ds.train.y, epochs=epochs, batch_size=128, eta=eta, optimizer="nesterov", optimizer_options={"mu":0.9},
            schedule="cosine", max_norm=3.0, validation_data=(ds.validation.X, ds.validation.y), verbose=True,
            augment=parse_augment(aug))
print("TOTAL", time.perf_counter()-t0, flush=True)
