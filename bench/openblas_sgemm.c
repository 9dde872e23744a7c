/* OpenBLAS sgemm on the shapes of GPT-2 124M's linear layers, for comparison with
 * `spamtune-bench gemm`: same cases, same timing method, same output line format
 * (plus impl=openblas). Built and run by bench/gemm.sh; never part of the product.
 *
 *   openblas_sgemm [--threads 1,2] [--tokens 23,128,1024] [--ops nn,tn,nt] [--seconds 0.6] [--clock wall|cpu]
 *
 * --clock cpu times with the process's CPU time divided by the thread count, as
 * `spamtune-bench gemm --clock cpu` does.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void openblas_set_num_threads(int);

static const int layers[][2] = {{768, 2304}, {768, 768}, {768, 3072}, {3072, 768}};

static clockid_t clock_id = CLOCK_MONOTONIC;
static int clock_divisor = 1;

static double now(void) {
    struct timespec t;
    clock_gettime(clock_id, &t);
    return (t.tv_sec + t.tv_nsec * 1e-9) / clock_divisor;
}

static int parse_list(const char *text, int *values, int capacity) {
    int count = 0;
    char *copy = strdup(text), *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item && count < capacity; item = strtok_r(NULL, ",", &save)) {
        int value = atoi(item);
        if (value <= 0) {
            fprintf(stderr, "openblas_sgemm: %s is not a positive number\n", item);
            exit(2);
        }
        values[count++] = value;
    }
    free(copy);
    return count;
}

static float *random_matrix(size_t count) {
    float *m = malloc(count * sizeof(float));
    for (size_t i = 0; i < count; i++) m[i] = (float)rand() / RAND_MAX * 2 - 1;
    return m;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* op: 'n' forward y = x W; 't' weight gradient dW = x^T dy; 'b' input gradient dx = dy W^T */
static void call(char op, int tokens, int k, int n, float *x, float *w, float *dy, float *out) {
    switch (op) {
    case 'n':
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, tokens, n, k, 1, x, k, w, n, 0, out, n);
        break;
    case 't':
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, n, tokens, 1, x, k, dy, n, 0, out, n);
        break;
    default:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, tokens, k, n, 1, dy, n, w, n, 0, out, k);
        break;
    }
}

int main(int argc, char **argv) {
    int threads[8] = {1, 2}, thread_count = 2;
    int tokens[16] = {23, 128, 1024}, token_count = 3;
    char ops[8][3] = {"nn"};
    int op_count = 1;
    double seconds = 0.6;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) thread_count = parse_list(argv[i + 1], threads, 8);
        else if (!strcmp(argv[i], "--tokens")) token_count = parse_list(argv[i + 1], tokens, 16);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--clock")) {
            if (!strcmp(argv[i + 1], "cpu")) clock_id = CLOCK_PROCESS_CPUTIME_ID;
            else if (strcmp(argv[i + 1], "wall")) {
                fprintf(stderr, "openblas_sgemm: --clock takes wall or cpu\n");
                return 2;
            }
        }
        else if (!strcmp(argv[i], "--ops")) {
            op_count = 0;
            char *copy = strdup(argv[i + 1]), *save = NULL;
            for (char *item = strtok_r(copy, ",", &save); item && op_count < 8; item = strtok_r(NULL, ",", &save)) {
                if (strcmp(item, "nn") && strcmp(item, "tn") && strcmp(item, "nt")) {
                    fprintf(stderr, "openblas_sgemm: unknown op %s (nn, tn, nt)\n", item);
                    return 2;
                }
                strcpy(ops[op_count++], item);
            }
            free(copy);
        } else {
            fprintf(stderr, "openblas_sgemm: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    for (int ti = 0; ti < thread_count; ti++) {
        openblas_set_num_threads(threads[ti]);
        if (clock_id == CLOCK_PROCESS_CPUTIME_ID) clock_divisor = threads[ti];
        for (int oi = 0; oi < op_count; oi++) {
            char op = ops[oi][0] == 'n' ? (ops[oi][1] == 'n' ? 'n' : 'b') : 't';
            for (int tk = 0; tk < token_count; tk++) {
                for (int li = 0; li < 4; li++) {
                    int t = tokens[tk], k = layers[li][0], n = layers[li][1];
                    float *x = random_matrix((size_t)t * k), *w = random_matrix((size_t)k * n);
                    float *dy = random_matrix((size_t)t * n);
                    size_t big = (size_t)(t > k ? t : k) * (n > k ? n : k);
                    float *out = malloc(big * sizeof(float));
                    double flops = 2.0 * t * k * n;
                    double start = now();
                    int calls = 0;
                    do {
                        call(op, t, k, n, x, w, dy, out);
                        calls++;
                    } while (now() - start < 0.05);
                    int per_batch = (int)(0.02 / ((now() - start) / calls));
                    if (per_batch < 1) per_batch = 1;
                    double rates[100000];
                    int count = 0;
                    double end = now() + seconds;
                    do {
                        start = now();
                        for (int c = 0; c < per_batch; c++) call(op, t, k, n, x, w, dy, out);
                        rates[count++] = flops * per_batch / (now() - start) / 1e9;
                    } while ((now() < end || count < 5) && count < 100000);
                    qsort(rates, count, sizeof(double), compare);
                    printf("gemm op=%s tokens=%d k=%d n=%d threads=%d impl=openblas precision=fp32 gops=%.1f median=%.1f\n", ops[oi],
                           t, k, n, threads[ti], rates[count - 1], rates[count / 2]);
                    fflush(stdout);
                    free(x); free(w); free(dy); free(out);
                }
            }
        }
    }
    return 0;
}
