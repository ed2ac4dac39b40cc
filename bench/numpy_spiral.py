#!/usr/bin/env python3
# numpy's version of the CS231n case study's two-layer net, as the course writes it: full-batch
# gradient descent on the spiral data, step size 1, reg 1e-3. bench/batched.mjs runs it on the
# same data and initial weights as gradc (a JSON file it writes) and compares the time of the
# same number of steps. Skips, with a message and exit status 0, when numpy is missing.
#
#   python3 bench/numpy_spiral.py DATA.json      -> one line of JSON: ms, loss, accuracy
import json
import sys
import time

try:
    import numpy as np
except ImportError:
    print(json.dumps({"skipped": "numpy is not installed (apt-get install -y python3-numpy)"}))
    sys.exit(0)

with open(sys.argv[1]) as f:
    d = json.load(f)
N, D, H, K = d["N"], d["D"], d["H"], d["K"]
X = np.array(d["X"], dtype=np.float64).reshape(N, D)
y = np.array(d["labels"], dtype=np.int64)
W = np.array(d["W1"], dtype=np.float64).reshape(D, H)
b = np.array(d["b1"], dtype=np.float64).reshape(1, H)
W2 = np.array(d["W2"], dtype=np.float64).reshape(H, K)
b2 = np.array(d["b2"], dtype=np.float64).reshape(1, K)
reg, step_size, steps = d["reg"], d["stepSize"], d["steps"]

num_examples = X.shape[0]
start = time.perf_counter()
for i in range(steps):
    hidden_layer = np.maximum(0, np.dot(X, W) + b)
    scores = np.dot(hidden_layer, W2) + b2
    # the course's softmax, with the row maximum subtracted (stable, as gradc's log_softmax)
    exp_scores = np.exp(scores - np.max(scores, axis=1, keepdims=True))
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    correct_logprobs = -np.log(probs[range(num_examples), y])
    data_loss = np.sum(correct_logprobs) / num_examples
    reg_loss = 0.5 * reg * np.sum(W * W) + 0.5 * reg * np.sum(W2 * W2)
    loss = data_loss + reg_loss
    dscores = probs
    dscores[range(num_examples), y] -= 1
    dscores /= num_examples
    dW2 = np.dot(hidden_layer.T, dscores)
    db2 = np.sum(dscores, axis=0, keepdims=True)
    dhidden = np.dot(dscores, W2.T)
    dhidden[hidden_layer <= 0] = 0
    dW = np.dot(X.T, dhidden)
    db = np.sum(dhidden, axis=0, keepdims=True)
    dW2 += reg * W2
    dW += reg * W
    W += -step_size * dW
    b += -step_size * db
    W2 += -step_size * dW2
    b2 += -step_size * db2
ms = (time.perf_counter() - start) * 1000
hidden_layer = np.maximum(0, np.dot(X, W) + b)
scores = np.dot(hidden_layer, W2) + b2
accuracy = float(np.mean(np.argmax(scores, axis=1) == y))
print(json.dumps({"ms": ms, "loss": float(loss), "accuracy": accuracy, "numpy": np.__version__}))
