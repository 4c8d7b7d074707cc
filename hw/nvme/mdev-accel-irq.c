/*
 * nvme-accel: completion interrupts through KVM irqfds
 *
 * Every MSI-X vector has an eventfd. Under KVM with MSI routing through
 * irqfd, that eventfd is bound to the vector's MSI route while the guest
 * has the vector unmasked, so whoever posts a completion (an iothread here,
 * the kvm-accel module) interrupts the guest without QEMU. While the vector
 * is masked the irqfd is unbound and the main loop reads the eventfd
 * instead, which turns into the vector's pending bit. Without KVM the main
 * loop always reads it (what TCG and qtest exercise).
 *
 * A route needs the vector's MSI message, which only exists once the guest
 * has enabled MSI-X and unmasked the vector: routes are created at the
 * first unmask (as hw/vfio/pci.c does), follow the guest's table writes
 * through mask/unmask (Linux masks a vector while it rewrites it), and are
 * released when MSI-X is disabled, on reset and on unplug.
 *
 * Copyright (c) 2026 The nvme-accel authors
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/pci/msix.h"
#include "hw/pci/msi.h"
#include "system/kvm.h"
#include "mdev-accel.h"
#include "trace.h"

/* The vector's route, created with @msg or updated to it. */
static int nvme_accel_vector_route(PCIDevice *dev, unsigned vector,
                                   MSIMessage msg)
{
    NvmeAccelVector *v = &NVME_ACCEL(dev)->vectors[vector];
    KVMRouteChange c;
    int ret;

    if (v->virq >= 0) {
        ret = kvm_irqchip_update_msi_route(kvm_state, v->virq, msg, dev);
        if (ret < 0) {
            return ret;
        }
        kvm_irqchip_commit_routes(kvm_state);
        return 0;
    }
    /* Called from the unmask notifier: MSI-X is enabled, the message set. */
    c = kvm_irqchip_begin_route_changes(kvm_state);
    ret = kvm_irqchip_add_msi_route(&c, vector, dev);
    kvm_irqchip_commit_route_changes(&c);
    if (ret < 0) {
        return ret;
    }
    v->virq = ret;
    trace_nvme_accel_irqfd_route(vector, v->virq);
    return 0;
}

/*
 * msix.c asserts that this succeeds: on failure the vector stays with the
 * main loop (slower, still correct) and we say so in a trace.
 */
static int nvme_accel_vector_unmask(PCIDevice *dev, unsigned vector,
                                    MSIMessage msg)
{
    NvmeAccelCtrl *n = NVME_ACCEL(dev);
    NvmeAccelVector *v;
    int ret;

    if (vector >= n->nr_qpairs) {
        return 0;
    }
    v = &n->vectors[vector];
    ret = nvme_accel_vector_route(dev, vector, msg);
    if (ret < 0) {
        trace_nvme_accel_err_irqfd(vector, ret);
        return 0;
    }
    if (v->irqfd_active) {
        return 0;
    }
    /*
     * KVM consumes the eventfd from now on; a signal already pending is
     * injected as the irqfd is assigned.
     */
    event_notifier_set_handler(&v->notifier, NULL);
    ret = kvm_irqchip_add_irqfd_notifier_gsi(kvm_state, &v->notifier, NULL,
                                             v->virq);
    if (ret < 0) {
        event_notifier_set_handler(&v->notifier, nvme_accel_vector_handler);
        trace_nvme_accel_err_irqfd(vector, ret);
        return 0;
    }
    v->irqfd_active = true;
    trace_nvme_accel_irqfd_unmask(vector, v->virq);
    return 0;
}

static void nvme_accel_vector_mask(PCIDevice *dev, unsigned vector)
{
    NvmeAccelCtrl *n = NVME_ACCEL(dev);
    NvmeAccelVector *v;

    if (vector >= n->nr_qpairs || !n->vectors[vector].irqfd_active) {
        return;
    }
    v = &n->vectors[vector];
    kvm_irqchip_remove_irqfd_notifier_gsi(kvm_state, &v->notifier, v->virq);
    v->irqfd_active = false;
    /* Signals while masked become the vector's pending bit. */
    event_notifier_set_handler(&v->notifier, nvme_accel_vector_handler);
    trace_nvme_accel_irqfd_mask(vector);
}

static void nvme_accel_vector_poll(PCIDevice *dev, unsigned start,
                                   unsigned end)
{
    NvmeAccelCtrl *n = NVME_ACCEL(dev);
    unsigned vector;

    /* MSI-X off: every vector reads as masked, but INTx owns the events. */
    if (!msix_enabled(dev)) {
        return;
    }
    for (vector = start; vector < end && vector < n->nr_qpairs; vector++) {
        if (msix_is_masked(dev, vector) &&
            event_notifier_test_and_clear(&n->vectors[vector].notifier)) {
            msix_set_pending(dev, vector);
        }
    }
}

bool nvme_accel_irqfd_init(NvmeAccelCtrl *n, Error **errp)
{
    PCIDevice *pci = PCI_DEVICE(n);
    unsigned i;
    int ret;

    for (i = 0; i < n->nr_qpairs; i++) {
        n->vectors[i].virq = -1;
    }
    if (!kvm_msi_via_irqfd_enabled() || !msix_present(pci)) {
        return true;
    }
    /* MSI-X is disabled at realize: this only registers the notifiers. */
    ret = msix_set_vector_notifiers(pci, nvme_accel_vector_unmask,
                                    nvme_accel_vector_mask,
                                    nvme_accel_vector_poll);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "could not set MSI-X vector notifiers");
        return false;
    }
    return true;
}

/*
 * MSI-X was disabled, the function reset or unplugged: unbind what is still
 * bound (msix.c calls no mask notifier when MSI-X goes off) and drop the
 * routes, whose messages are stale.
 */
void nvme_accel_irqfd_release_routes(NvmeAccelCtrl *n)
{
    unsigned i;

    if (!n->vectors || !kvm_msi_via_irqfd_enabled()) {
        return;
    }
    for (i = 0; i < n->nr_qpairs; i++) {
        NvmeAccelVector *v = &n->vectors[i];

        if (v->irqfd_active) {
            nvme_accel_vector_mask(PCI_DEVICE(n), i);
        }
        if (v->virq >= 0) {
            kvm_irqchip_release_virq(kvm_state, v->virq);
            trace_nvme_accel_irqfd_release(i, v->virq);
            v->virq = -1;
        }
    }
}

void nvme_accel_irqfd_cleanup(NvmeAccelCtrl *n)
{
    PCIDevice *pci = PCI_DEVICE(n);

    if (!n->vectors || !kvm_msi_via_irqfd_enabled()) {
        return;
    }
    if (pci->msix_vector_use_notifier) {
        msix_unset_vector_notifiers(pci);
    }
    nvme_accel_irqfd_release_routes(n);
}
