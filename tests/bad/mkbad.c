/* mkbad.c: make bad panel files for tests/it_check.sh by editing a copy of a good one with serial HDF5.
 * usage: mkbad empty OUT            an HDF5 file with nothing in it
 *        mkbad delete FILE PATH     remove a dataset or group
 *        mkbad retype FILE PATH     rewrite a dataset as float64 (int input) or int32 (float input)
 *        mkbad shorten FILE PATH    rewrite a dataset with its last element dropped
 *        mkbad set FILE PATH I V    element I := V
 *        mkbad copy FILE PATH I J   element J := element I
 *        mkbad swap FILE PATH I J   swap elements I and J
 *        mkbad version FILE V       root attribute format_version := V */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int die(const char *what)
{
    fprintf(stderr, "mkbad: %s\n", what);
    return 1;
}

/* read a 1-D numeric dataset as double */
static double *load(hid_t f, const char *path, hsize_t *n, int *is_int)
{
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) return NULL;
    hid_t s = H5Dget_space(d), t = H5Dget_type(d);
    H5Sget_simple_extent_dims(s, n, NULL);
    *is_int = H5Tget_class(t) == H5T_INTEGER;
    double *v = malloc((*n + 1) * sizeof *v);
    if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) { free(v); v = NULL; }
    H5Tclose(t); H5Sclose(s); H5Dclose(d);
    return v;
}

static int store(hid_t f, const char *path, const double *v, hsize_t n, int as_int)
{
    if (H5Lexists(f, path, H5P_DEFAULT) > 0) H5Ldelete(f, path, H5P_DEFAULT);
    hid_t s = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, path, as_int ? H5T_STD_I32LE : H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = d < 0 || H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0;
    if (d >= 0) H5Dclose(d);
    H5Sclose(s);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) return die("usage: see the comment at the top of mkbad.c");
    const char *mode = argv[1], *file = argv[2];
    if (!strcmp(mode, "empty")) {
        hid_t f = H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        return f < 0 ? die("cannot create") : (H5Fclose(f), 0);
    }
    hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) return die("cannot open");
    int rc = 0;
    if (!strcmp(mode, "version") && argc == 4) {
        double v = atof(argv[3]);
        H5Adelete(f, "format_version");
        hid_t s = H5Screate(H5S_SCALAR), a = H5Acreate2(f, "format_version", H5T_NATIVE_DOUBLE, s, H5P_DEFAULT, H5P_DEFAULT);
        rc = a < 0 || H5Awrite(a, H5T_NATIVE_DOUBLE, &v) < 0;
        H5Aclose(a); H5Sclose(s);
    } else if (!strcmp(mode, "delete") && argc == 4) {
        rc = H5Ldelete(f, argv[3], H5P_DEFAULT) < 0;
    } else if (argc >= 4) {
        hsize_t n;
        int is_int;
        double *v = load(f, argv[3], &n, &is_int);
        if (!v) return die("cannot read dataset");
        if (!strcmp(mode, "retype")) rc = store(f, argv[3], v, n, !is_int);
        else if (!strcmp(mode, "shorten")) rc = store(f, argv[3], v, n - 1, is_int);
        else if (argc == 6) {
            long i = atol(argv[4]);
            double x = atof(argv[5]);
            long j = atol(argv[5]);
            if (i < 0 || (hsize_t)i >= n) return die("index out of range");
            if (!strcmp(mode, "set")) v[i] = x;
            else if ((j < 0 || (hsize_t)j >= n)) return die("index out of range");
            else if (!strcmp(mode, "copy")) v[j] = v[i];
            else if (!strcmp(mode, "swap")) { double t = v[i]; v[i] = v[j]; v[j] = t; }
            else return die("unknown mode");
            rc = store(f, argv[3], v, n, is_int);
        } else return die("bad arguments");
        free(v);
    } else return die("bad arguments");
    H5Fclose(f);
    return rc ? die("HDF5 call failed") : 0;
}
