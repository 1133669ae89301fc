/*
 * A fake libnvidia-ml.so.1 for evd's tests: NVML's C functions with their real
 * signatures, answering from a JSON state file the test writes (and changes while
 * evd runs). nvidia-ml-py loads it unchanged, so evd's inventory and probe code
 * runs through the real ctypes binding: a wrong structure, error code or call
 * order fails here as it would on a GPU.
 *
 * The state file is named by FAKE_NVML_STATE and read again whenever it changes:
 *
 *   {"driver_version": "550.54.15", "cuda_driver_version": 12040,
 *    "init_error": 0, "count_error": 0,
 *    "devices": [{"name": "NVIDIA H100", "uuid": "GPU-...", "total": 85899345920,
 *                 "reserved": 524288000, "used": 0, "utilization": 0,
 *                 "handle_error": 0, "compute": [[pid, bytes]], "graphics": [],
 *                 "mps": [], "ecc_uncorrected": 0, "retired_pending": 0,
 *                 "remapped": [0, 0, 0, 0], "mig": 0, "xid_error": 0,
 *                 "memory_v2": true, "processes_v3": true,
 *                 "compute_capability": [8, 6]}],
 *    "nvlink": [[0, 1]],
 *    "xid": [[0, 79]]}
 *
 * A negative number where a count is expected ("ecc_uncorrected": -1,
 * "retired_pending": -1) and a missing "remapped" mean "not supported" (3), as on
 * cards without the feature. Each "xid" entry is delivered once, in order.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SUCCESS 0
#define NOT_SUPPORTED 3
#define INVALID_ARGUMENT 2
#define UNINITIALIZED 1
#define INSUFFICIENT_SIZE 7
#define TIMEOUT 10
#define FUNCTION_NOT_FOUND 13
#define XID_CRITICAL 0x8ULL
#define MAX_DEVICES 64

/* ---- a small JSON reader: the whole value tree, freed on every reload ---- */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct J {
    int type;
    double num;
    char *str;
    struct J *items;
    char **keys;
    int n;
} J;

static const char *cursor;

static void skip(void) {
    while (*cursor && isspace((unsigned char)*cursor)) cursor++;
}

static int parse(J *out);

static char *parse_string(void) {
    size_t cap = 16, len = 0;
    char *text = malloc(cap);
    cursor++; /* the opening quote */
    while (*cursor && *cursor != '"') {
        char c = *cursor++;
        if (c == '\\' && *cursor) {
            c = *cursor++;
            if (c == 'n') c = '\n';
            else if (c == 't') c = '\t';
        }
        if (len + 2 > cap) text = realloc(text, cap *= 2);
        text[len++] = c;
    }
    if (*cursor == '"') cursor++;
    text[len] = 0;
    return text;
}

static int parse(J *out) {
    memset(out, 0, sizeof *out);
    skip();
    if (*cursor == '{' || *cursor == '[') {
        int object = *cursor == '{';
        char close = object ? '}' : ']';
        out->type = object ? J_OBJ : J_ARR;
        cursor++;
        skip();
        while (*cursor && *cursor != close) {
            out->items = realloc(out->items, sizeof(J) * (out->n + 1));
            if (object) {
                out->keys = realloc(out->keys, sizeof(char *) * (out->n + 1));
                skip();
                if (*cursor != '"') return -1;
                out->keys[out->n] = parse_string();
                skip();
                if (*cursor++ != ':') return -1;
            }
            if (parse(&out->items[out->n]) < 0) return -1;
            out->n++;
            skip();
            if (*cursor == ',') cursor++;
            skip();
        }
        if (*cursor != close) return -1;
        cursor++;
        return 0;
    }
    if (*cursor == '"') {
        out->type = J_STR;
        out->str = parse_string();
        return 0;
    }
    if (!strncmp(cursor, "true", 4) || !strncmp(cursor, "false", 5)) {
        out->type = J_BOOL;
        out->num = *cursor == 't';
        cursor += *cursor == 't' ? 4 : 5;
        return 0;
    }
    if (!strncmp(cursor, "null", 4)) {
        cursor += 4;
        return 0;
    }
    char *end;
    out->num = strtod(cursor, &end);
    if (end == cursor) return -1;
    out->type = J_NUM;
    cursor = end;
    return 0;
}

static void release(J *value) {
    for (int i = 0; i < value->n; i++) {
        release(&value->items[i]);
        if (value->keys) free(value->keys[i]);
    }
    free(value->items);
    free(value->keys);
    free(value->str);
}

static J *get(J *object, const char *key) {
    if (!object || object->type != J_OBJ) return NULL;
    for (int i = 0; i < object->n; i++)
        if (!strcmp(object->keys[i], key)) return &object->items[i];
    return NULL;
}

static double number(J *object, const char *key, double otherwise) {
    J *value = get(object, key);
    return value && (value->type == J_NUM || value->type == J_BOOL) ? value->num : otherwise;
}

static const char *text(J *object, const char *key, const char *otherwise) {
    J *value = get(object, key);
    return value && value->type == J_STR ? value->str : otherwise;
}

/* ---- the state, read again when the file changes ---- */

static J state;
static int loaded;
static struct timespec seen_mtime;
static off_t seen_size;
static ino_t seen_inode; /* the test replaces the file whole: a new inode each time */
static int initialised;
static int delivered; /* Xid events handed out so far */
static int registered[MAX_DEVICES];

static void reload(void) {
    const char *path = getenv("FAKE_NVML_STATE");
    struct stat info;
    if (!path || stat(path, &info) != 0) return;
    if (loaded && info.st_ino == seen_inode && info.st_mtim.tv_sec == seen_mtime.tv_sec &&
        info.st_mtim.tv_nsec == seen_mtime.tv_nsec && info.st_size == seen_size)
        return;
    FILE *file = fopen(path, "r");
    if (!file) return;
    char *buffer = calloc(1, info.st_size + 1);
    size_t got = fread(buffer, 1, info.st_size, file);
    fclose(file);
    buffer[got] = 0;
    J fresh;
    cursor = buffer;
    if (parse(&fresh) == 0 && fresh.type == J_OBJ) { /* a half-written file keeps the old state */
        if (loaded) release(&state);
        state = fresh;
        loaded = 1;
        seen_mtime = info.st_mtim;
        seen_size = info.st_size;
        seen_inode = info.st_ino;
    } else {
        release(&fresh);
    }
    free(buffer);
}

static J *devices(void) {
    reload();
    J *list = get(&state, "devices");
    return list && list->type == J_ARR ? list : NULL;
}

static int device_count(void) {
    J *list = devices();
    return list ? list->n : 0;
}

/* Handles are opaque pointers to NVML's callers: the index, offset so none is NULL. */
typedef void *nvmlDevice_t;
#define HANDLE(index) ((nvmlDevice_t)(uintptr_t)(0x1000 + (index)))

static J *device(nvmlDevice_t handle, int *index) {
    intptr_t at = (intptr_t)(uintptr_t)handle - 0x1000;
    J *list = devices();
    if (!list || at < 0 || at >= list->n) return NULL;
    if (index) *index = (int)at;
    return &list->items[at];
}

#define DEVICE_OR_FAIL(handle)                            \
    if (!initialised) return UNINITIALIZED;               \
    J *dev = device(handle, NULL);                        \
    if (!dev) return INVALID_ARGUMENT;                    \
    if (number(dev, "lost", 0)) return 15; /* GPU_IS_LOST */

/* ---- NVML ---- */

const char *nvmlErrorString(int result) {
    switch (result) {
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 4: return "Insufficient Permissions";
    case 6: return "Not Found";
    case 7: return "Insufficient Size";
    case 9: return "Driver Not Loaded";
    case 10: return "Timeout";
    case 13: return "Function Not Found";
    case 15: return "GPU is lost";
    case 18: return "RM has detected an NVML/RM version mismatch.";
    default: return "Unknown Error";
    }
}

int nvmlInitWithFlags(unsigned int flags) {
    (void)flags;
    reload();
    int error = (int)number(&state, "init_error", 0);
    if (error) return error;
    initialised = 1;
    return SUCCESS;
}

int nvmlInit_v2(void) { return nvmlInitWithFlags(0); }

int nvmlShutdown(void) {
    initialised = 0;
    return SUCCESS;
}

int nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    reload();
    snprintf(version, length, "%s", text(&state, "driver_version", "550.54.15"));
    return SUCCESS;
}

int nvmlSystemGetCudaDriverVersion(int *version) {
    reload();
    *version = (int)number(&state, "cuda_driver_version", 12040);
    return SUCCESS;
}

int nvmlSystemGetCudaDriverVersion_v2(int *version) { return nvmlSystemGetCudaDriverVersion(version); }

int nvmlDeviceGetCount_v2(unsigned int *count) {
    if (!initialised) return UNINITIALIZED;
    reload();
    int error = (int)number(&state, "count_error", 0);
    if (error) return error;
    *count = (unsigned int)device_count();
    return SUCCESS;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *handle) {
    if (!initialised) return UNINITIALIZED;
    J *list = devices();
    if (!list || (int)index >= list->n) return INVALID_ARGUMENT;
    int error = (int)number(&list->items[index], "handle_error", 0);
    if (error) return error;
    *handle = HANDLE(index);
    return SUCCESS;
}

int nvmlDeviceGetIndex(nvmlDevice_t handle, unsigned int *index) {
    int at;
    if (!initialised) return UNINITIALIZED;
    if (!device(handle, &at)) return INVALID_ARGUMENT;
    *index = (unsigned int)at;
    return SUCCESS;
}

int nvmlDeviceGetName(nvmlDevice_t handle, char *name, unsigned int length) {
    DEVICE_OR_FAIL(handle);
    snprintf(name, length, "%s", text(dev, "name", "NVIDIA Fake GPU"));
    return SUCCESS;
}

int nvmlDeviceGetUUID(nvmlDevice_t handle, char *uuid, unsigned int length) {
    DEVICE_OR_FAIL(handle);
    snprintf(uuid, length, "%s", text(dev, "uuid", "GPU-00000000-0000-0000-0000-000000000000"));
    return SUCCESS;
}

int nvmlDeviceGetCudaComputeCapability(nvmlDevice_t handle, int *major, int *minor) {
    DEVICE_OR_FAIL(handle);
    J *capability = get(dev, "compute_capability");
    if (!capability || capability->type != J_ARR || capability->n != 2) {
        *major = 8, *minor = 6; /* an Ampere workstation card */
    } else {
        *major = (int)capability->items[0].num, *minor = (int)capability->items[1].num;
    }
    return SUCCESS;
}

typedef struct {
    unsigned long long total, free, used;
} nvmlMemory_t;

typedef struct {
    unsigned int version;
    unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;

/* v1 counts the driver's reserved memory as used, as real drivers do. */
int nvmlDeviceGetMemoryInfo(nvmlDevice_t handle, nvmlMemory_t *memory) {
    DEVICE_OR_FAIL(handle);
    unsigned long long total = number(dev, "total", 0), reserved = number(dev, "reserved", 0);
    unsigned long long used = number(dev, "used", 0);
    memory->total = total;
    memory->used = reserved + used;
    memory->free = total - reserved - used;
    return SUCCESS;
}

int nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t handle, nvmlMemory_v2_t *memory) {
    DEVICE_OR_FAIL(handle);
    if (!number(dev, "memory_v2", 1)) return FUNCTION_NOT_FOUND;
    if (memory->version != 0x02000028) return 25; /* ARGUMENT_VERSION_MISMATCH */
    unsigned long long total = number(dev, "total", 0), reserved = number(dev, "reserved", 0);
    unsigned long long used = number(dev, "used", 0);
    memory->total = total;
    memory->reserved = reserved;
    memory->used = used;
    memory->free = total - reserved - used;
    return SUCCESS;
}

typedef struct {
    unsigned int gpu, memory;
} nvmlUtilization_t;

int nvmlDeviceGetUtilizationRates(nvmlDevice_t handle, nvmlUtilization_t *rates) {
    DEVICE_OR_FAIL(handle);
    rates->gpu = (unsigned int)number(dev, "utilization", 0);
    rates->memory = 0;
    return SUCCESS;
}

typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;

static int processes(nvmlDevice_t handle, const char *kind, unsigned int *count,
                     nvmlProcessInfo_t *infos) {
    DEVICE_OR_FAIL(handle);
    if (!number(dev, "processes_v3", 1)) return FUNCTION_NOT_FOUND;
    J *list = get(dev, kind);
    unsigned int have = list && list->type == J_ARR ? (unsigned int)list->n : 0;
    if (*count < have || (!infos && have)) {
        *count = have;
        return INSUFFICIENT_SIZE;
    }
    *count = have;
    for (unsigned int i = 0; i < have; i++) {
        J *entry = &list->items[i];
        infos[i].pid = entry->n > 0 ? (unsigned int)entry->items[0].num : 0;
        infos[i].usedGpuMemory = entry->n > 1 ? (unsigned long long)entry->items[1].num : 0;
        infos[i].gpuInstanceId = 0xFFFFFFFF;
        infos[i].computeInstanceId = 0xFFFFFFFF;
    }
    return SUCCESS;
}

int nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t h, unsigned int *c, nvmlProcessInfo_t *i) {
    return processes(h, "compute", c, i);
}

int nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t h, unsigned int *c, nvmlProcessInfo_t *i) {
    return processes(h, "graphics", c, i);
}

int nvmlDeviceGetMPSComputeRunningProcesses_v3(nvmlDevice_t h, unsigned int *c,
                                               nvmlProcessInfo_t *i) {
    return processes(h, "mps", c, i);
}

int nvmlDeviceGetP2PStatus(nvmlDevice_t a, nvmlDevice_t b, int index, int *status) {
    int first, second;
    if (!initialised) return UNINITIALIZED;
    if (!device(a, &first) || !device(b, &second)) return INVALID_ARGUMENT;
    *status = 4; /* NVML_P2P_STATUS_NOT_SUPPORTED */
    J *links = get(&state, "nvlink");
    if (index != 2 || !links || links->type != J_ARR) return SUCCESS; /* 2: NVLINK */
    for (int i = 0; i < links->n; i++) {
        J *pair = &links->items[i];
        if (pair->n != 2) continue;
        int x = (int)pair->items[0].num, y = (int)pair->items[1].num;
        if ((x == first && y == second) || (x == second && y == first)) *status = 0; /* OK */
    }
    return SUCCESS;
}

int nvmlDeviceGetTotalEccErrors(nvmlDevice_t handle, int type, int counter,
                                unsigned long long *count) {
    (void)type;
    (void)counter;
    DEVICE_OR_FAIL(handle);
    double errors = number(dev, "ecc_uncorrected", 0);
    if (errors < 0) return NOT_SUPPORTED;
    *count = (unsigned long long)errors;
    return SUCCESS;
}

int nvmlDeviceGetRetiredPagesPendingStatus(nvmlDevice_t handle, int *pending) {
    DEVICE_OR_FAIL(handle);
    double value = number(dev, "retired_pending", 0);
    if (value < 0) return NOT_SUPPORTED;
    *pending = (int)value;
    return SUCCESS;
}

int nvmlDeviceGetRemappedRows(nvmlDevice_t handle, unsigned int *corrected,
                              unsigned int *uncorrected, unsigned int *pending,
                              unsigned int *failed) {
    DEVICE_OR_FAIL(handle);
    J *rows = get(dev, "remapped");
    if (!rows || rows->type != J_ARR || rows->n != 4) return NOT_SUPPORTED;
    *corrected = (unsigned int)rows->items[0].num;
    *uncorrected = (unsigned int)rows->items[1].num;
    *pending = (unsigned int)rows->items[2].num;
    *failed = (unsigned int)rows->items[3].num;
    return SUCCESS;
}

int nvmlDeviceGetMigMode(nvmlDevice_t handle, unsigned int *current, unsigned int *pending) {
    DEVICE_OR_FAIL(handle);
    double mode = number(dev, "mig", -1);
    if (mode < 0) return NOT_SUPPORTED;
    *current = *pending = (unsigned int)mode;
    return SUCCESS;
}

/* ---- Xid events ---- */

typedef void *nvmlEventSet_t;
#define EVENT_SET ((nvmlEventSet_t)(uintptr_t)0x2000)

typedef struct {
    nvmlDevice_t device;
    unsigned long long eventType, eventData;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlEventData_t;

int nvmlEventSetCreate(nvmlEventSet_t *set) {
    if (!initialised) return UNINITIALIZED;
    *set = EVENT_SET;
    return SUCCESS;
}

int nvmlEventSetFree(nvmlEventSet_t set) {
    (void)set;
    return SUCCESS;
}

int nvmlDeviceRegisterEvents(nvmlDevice_t handle, unsigned long long types, nvmlEventSet_t set) {
    int at;
    if (!initialised) return UNINITIALIZED;
    J *dev = device(handle, &at);
    if (!dev || set != EVENT_SET) return INVALID_ARGUMENT;
    int error = (int)number(dev, "xid_error", 0);
    if (error) return error;
    if ((types & XID_CRITICAL) && at < MAX_DEVICES) registered[at] = 1;
    return SUCCESS;
}

int nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t *data, unsigned int timeout_ms) {
    (void)timeout_ms; /* the fake never waits: what has happened is there at once */
    if (!initialised) return UNINITIALIZED;
    if (set != EVENT_SET) return INVALID_ARGUMENT;
    reload();
    J *events = get(&state, "xid");
    while (events && events->type == J_ARR && delivered < events->n) {
        J *event = &events->items[delivered++];
        if (event->n != 2) continue;
        int at = (int)event->items[0].num;
        if (at < 0 || at >= MAX_DEVICES || !registered[at]) continue;
        memset(data, 0, sizeof *data);
        data->device = HANDLE(at);
        data->eventType = XID_CRITICAL;
        data->eventData = (unsigned long long)event->items[1].num;
        return SUCCESS;
    }
    return TIMEOUT;
}
