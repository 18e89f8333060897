/* Toggle counter for gate-level power (synth/activity.py): an Icarus VPI module.
 *
 * $mxf_toggles_init("cells.txt", dut, sig, ...) reads lines "CELLTYPE PIN PIN ..." (the
 * output pins of each library cell), then walks the design under the DUT instance: each output
 * pin of every instance of a listed cell is a probe, and so is every bit of the further
 * arguments (the testbench signals driving the DUT's inputs, named as its ports). $mxf_toggles_sample() (the testbench calls it once per clock cycle, before the
 * edge) reads every probe and counts the ones whose value changed since the last sample:
 * functional toggles, one per cycle at most, the zero-delay glitches of the simulation not
 * counted. $mxf_toggles_start() zeroes the counts (after reset) and takes a first sample;
 * $mxf_toggles_write("toggles.txt") writes "PATH COUNT" lines: cell pins as inst/inst/PIN
 * relative to the DUT (OpenSTA's hierarchical pin names), DUT input bits as port[bit] (or port
 * for one bit). A toggle is a change between 0 and 1 (X and Z do not count).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vpi_user.h>

typedef struct probe {
    char *path;
    vpiHandle net;
    long count;
    int last;               /* 0, 1, or -1 unknown */
} probe_t;

static probe_t *probes;
static int n_probes, cap_probes;
static char **cell_types;   /* "TYPE PIN PIN ..." lines */
static int n_cells;
static int dut_name_len;

static int read_bit(vpiHandle net)
{
    s_vpi_value now = {vpiScalarVal, {0}};
    vpi_get_value(net, &now);
    return now.value.scalar == vpi1 ? 1 : now.value.scalar == vpi0 ? 0 : -1;
}

static void watch(vpiHandle net, const char *path)
{
    if (n_probes == cap_probes) {
        cap_probes = cap_probes ? 2 * cap_probes : 4096;
        probes = realloc(probes, cap_probes * sizeof(probe_t));
    }
    probe_t *p = &probes[n_probes++];
    p->path = strdup(path);
    p->net = net;
    p->count = 0;
    p->last = -1;
}

static PLI_INT32 sample_calltf(PLI_BYTE8 *unused)
{
    (void)unused;
    for (int i = 0; i < n_probes; i++) {
        int b = read_bit(probes[i].net);
        if (b >= 0 && probes[i].last >= 0 && b != probes[i].last)
            probes[i].count++;
        probes[i].last = b;
    }
    return 0;
}

static const char *cell_pins(const char *type)
{
    size_t n = strlen(type);
    for (int i = 0; i < n_cells; i++)
        if (!strncmp(cell_types[i], type, n) && cell_types[i][n] == ' ')
            return cell_types[i] + n + 1;
    return NULL;
}

static void relative(const char *full, char *out)
{
    /* full: tb.dut.a.b -> a/b */
    const char *s = full + dut_name_len;
    if (*s == '.')
        s++;
    size_t k = 0;
    for (; *s && k < 1000; s++)
        out[k++] = *s == '.' ? '/' : *s;
    out[k] = 0;
}

static void walk(vpiHandle scope)
{
    vpiHandle it = vpi_iterate(vpiModule, scope), m;
    if (!it)
        return;
    while ((m = vpi_scan(it))) {
        const char *type = vpi_get_str(vpiDefName, m);
        const char *pins = type ? cell_pins(type) : NULL;
        if (!pins) {
            walk(m);
            continue;
        }
        char buf[1100], rel[1024];
        strncpy(buf, pins, sizeof buf - 1);
        buf[sizeof buf - 1] = 0;
        relative(vpi_get_str(vpiFullName, m), rel);
        for (char *pin = strtok(buf, " \n"); pin; pin = strtok(NULL, " \n")) {
            /* relative to the cell instance: a lookup from the root would scan every
             * instance of the enclosing module for each pin (quadratic in the design) */
            vpiHandle net = vpi_handle_by_name(pin, m);
            if (!net)
                continue;
            char path[1100];
            snprintf(path, sizeof path, "%s/%s", rel, pin);
            watch(net, path);
        }
    }
}

static char *string_arg(vpiHandle args)
{
    vpiHandle a = vpi_scan(args);
    s_vpi_value v = {vpiStringVal, {0}};
    vpi_get_value(a, &v);
    return strdup(v.value.str);
}

static PLI_INT32 init_calltf(PLI_BYTE8 *unused)
{
    (void)unused;
    vpiHandle call = vpi_handle(vpiSysTfCall, NULL);
    vpiHandle args = vpi_iterate(vpiArgument, call);
    char *file = string_arg(args);
    vpiHandle dut = vpi_scan(args);
    FILE *f = fopen(file, "r");
    if (!f) {
        vpi_printf("mxf_toggles: cannot read %s\n", file);
        vpi_control(vpiFinish, 1);
        return 0;
    }
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        cell_types = realloc(cell_types, (n_cells + 1) * sizeof(char *));
        cell_types[n_cells++] = strdup(line);
    }
    fclose(f);
    const char *dut_name = vpi_get_str(vpiFullName, dut);
    dut_name_len = strlen(dut_name);
    walk(dut);
    /* further arguments: the testbench signals that drive the DUT's inputs, bit by bit, named
     * after the signal (the testbench names them as the DUT's ports) */
    vpiHandle sig;
    while ((sig = vpi_scan(args))) {
        const char *base = vpi_get_str(vpiName, sig);
        char path[1100];
        int size = vpi_get(vpiSize, sig);
        vpiHandle lr = vpi_handle(vpiLeftRange, sig), rr = vpi_handle(vpiRightRange, sig);
        if (!lr || !rr) {   /* a scalar */
            watch(sig, base);
            continue;
        }
        s_vpi_value left = {vpiIntVal, {0}}, right = {vpiIntVal, {0}};
        vpi_get_value(lr, &left);
        vpi_get_value(rr, &right);
        int lo = left.value.integer < right.value.integer ? left.value.integer
                                                          : right.value.integer;
        for (int i = 0; i < size; i++) {
            vpiHandle bit = vpi_handle_by_index(sig, lo + i);
            if (!bit)
                continue;
            snprintf(path, sizeof path, "%s[%d]", base, lo + i);
            watch(bit, path);
        }
    }
    free(file);
    return 0;
}

static PLI_INT32 start_calltf(PLI_BYTE8 *unused)
{
    (void)unused;
    for (int i = 0; i < n_probes; i++) {
        probes[i].count = 0;
        probes[i].last = read_bit(probes[i].net);
    }
    return 0;
}

static PLI_INT32 write_calltf(PLI_BYTE8 *unused)
{
    (void)unused;
    vpiHandle call = vpi_handle(vpiSysTfCall, NULL);
    vpiHandle args = vpi_iterate(vpiArgument, call);
    char *file = string_arg(args);
    vpi_free_object(args);
    FILE *f = fopen(file, "w");
    for (int i = 0; f && i < n_probes; i++)
        fprintf(f, "%s %ld\n", probes[i].path, probes[i].count);
    if (f)
        fclose(f);
    free(file);
    return 0;
}

static void reg(const char *name, PLI_INT32 (*calltf)(PLI_BYTE8 *))
{
    s_vpi_systf_data tf;
    memset(&tf, 0, sizeof tf);
    tf.type = vpiSysTask;
    tf.tfname = (PLI_BYTE8 *)name;
    tf.calltf = calltf;
    vpi_register_systf(&tf);
}

static void register_tasks(void)
{
    reg("$mxf_toggles_init", init_calltf);
    reg("$mxf_toggles_start", start_calltf);
    reg("$mxf_toggles_sample", sample_calltf);
    reg("$mxf_toggles_write", write_calltf);
}

void (*vlog_startup_routines[])(void) = {register_tasks, 0};
