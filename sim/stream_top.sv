// Generic stream testbench top for any catalogued block (module `DUT_MODULE).
//
// Streams packed input payloads from `in.hex` (one per line) into the DUT's `i` stream and writes
// every accepted `o` payload to `out.hex`, with random idle cycles on the input and random
// back-pressure on the output from a seeded xorshift32 PRNG. The clock and the reset come from
// the cocotb test (sim/cocotb_bench.py), which waits for `done` and reads `error` and the counters.
// Driving the handshakes here instead of from Python keeps per-cycle Python work at zero.
//
// Plusargs: +N=<vectors> +NOUT=<output beats, default N> +SEED=<int> +PIN=<0..65535> +POUT=<0..65535> +DRAIN=<cycles>; a stall
// happens on a cycle with probability PIN/65536 (input idle) or POUT/65536 (output not ready);
// 0 = never. After the NOUT-th output the top keeps o.ready high for DRAIN cycles so that a
// duplicated beat shows up as error bit 0 before `done`.
// Defines: DUT_CLK / DUT_RST when the DUT has those ports (a combinational block has neither);
// DUT_MODULE, the DUT's module name (its configuration name; default `dut`).
//
// Handshake rules checked (bits of `error`):
//   0: more outputs than NOUT;  1: o.payload/o.valid changed while o.valid & ~o.ready;
//   2: X/Z on i.ready or o.valid;  3: in.hex shorter than N or unreadable;  4: out.hex unwritable.
`ifndef DUT_MODULE
`define DUT_MODULE dut
`endif

module mxf_top #(
    parameter integer IW = 1,
    parameter integer OW = 1
) (
    input  wire       clk /*verilator public_flat_rw*/,
    input  wire       rst /*verilator public_flat_rw*/,
    output reg        done /*verilator public_flat_rd*/,
    output reg  [7:0] error /*verilator public_flat_rd*/
);
    reg  [IW-1:0] i_payload;
    reg           i_valid;
    wire          i_ready;
    wire [OW-1:0] o_payload;
    wire          o_valid;
    reg           o_ready;

    `DUT_MODULE u_dut (
`ifdef DUT_CLK
        .clk(clk),
`endif
`ifdef DUT_RST
        .rst(rst),
`endif
        .i__payload(i_payload),
        .i__valid(i_valid),
        .i__ready(i_ready),
        .o__payload(o_payload),
        .o__valid(o_valid),
        .o__ready(o_ready)
    );

    integer n = 0;
    integer nout = 0;
    integer fin = 0;
    integer fout = 0;
    reg [31:0] seed = 32'd1;
    reg [31:0] p_in = 32'd0;
    reg [31:0] p_out = 32'd0;
    integer drain = 16;

    initial begin
        if (!$value$plusargs("N=%d", n)) n = 0;
        if (!$value$plusargs("NOUT=%d", nout)) nout = n;
        if (!$value$plusargs("SEED=%d", seed)) seed = 32'd1;
        if (!$value$plusargs("PIN=%d", p_in)) p_in = 32'd0;
        if (!$value$plusargs("POUT=%d", p_out)) p_out = 32'd0;
        if (!$value$plusargs("DRAIN=%d", drain)) drain = 16;
        fin = $fopen("in.hex", "r");
        fout = $fopen("out.hex", "w");
    end

    integer sent /*verilator public_flat_rd*/;
    integer recv /*verilator public_flat_rd*/;
    integer code;
    integer drained;
    reg [31:0] rng;
    reg [31:0] x;
    reg [IW-1:0] vec;
    reg           hold;
    reg [OW-1:0]  held;
    // statistics, read by the cocotb test
    reg [31:0] cycles /*verilator public_flat_rd*/;       // cycles from the end of reset to the last output beat
    reg [31:0] count;
    reg [31:0] in_idle /*verilator public_flat_rd*/;      // cycles with i.valid low while vectors remained
    reg [31:0] in_stall /*verilator public_flat_rd*/;     // cycles with i.valid & ~i.ready (the DUT held its input back)
    reg [31:0] out_stall /*verilator public_flat_rd*/;    // cycles with o.ready low
    reg [31:0] backpressure /*verilator public_flat_rd*/; // cycles with o.valid & ~o.ready

    initial begin
        i_payload = {IW{1'b0}};
        i_valid = 1'b0;
        o_ready = 1'b0;
        done = 1'b0;
        error = 8'd0;
    end

    always @(posedge clk) begin
        if (rst) begin
            i_valid <= 1'b0;
            o_ready <= 1'b0;
            done <= 1'b0;
            error <= 8'd0;
            sent = 0;
            recv = 0;
            drained = 0;
            hold <= 1'b0;
            held <= {OW{1'b0}};
            rng <= seed ^ 32'h9e3779b9;
            cycles <= 32'd0;
            count <= 32'd0;
            in_idle <= 32'd0;
            in_stall <= 32'd0;
            out_stall <= 32'd0;
            backpressure <= 32'd0;
            if (fin == 0) error[3] <= 1'b1;
            if (fout == 0) error[4] <= 1'b1;
        end else if (!done) begin
            count <= count + 32'd1;
`ifndef VERILATOR
            if ((^{i_ready, o_valid}) === 1'bx) error[2] <= 1'b1;
`endif
            if (!i_valid && sent < n) in_idle <= in_idle + 32'd1;
            if (i_valid && !i_ready) in_stall <= in_stall + 32'd1;
            if (!o_ready) out_stall <= out_stall + 32'd1;
            if (o_valid && !o_ready) backpressure <= backpressure + 32'd1;
            // the values below are those just before this edge: a beat moves iff valid & ready
            if (i_valid && i_ready) sent = sent + 1;
            if (o_valid && o_ready) begin
                if (recv < nout) $fwrite(fout, "%h\n", o_payload);
                else error[0] <= 1'b1;
                recv = recv + 1;
                if (recv == nout) cycles <= count + 32'd1;
            end
            if (hold && (!o_valid || o_payload !== held)) error[1] <= 1'b1;
            hold <= o_valid && !o_ready;
            held <= o_payload;

            x = rng;
            x = x ^ (x << 13);
            x = x ^ (x >> 17);
            x = x ^ (x << 5);
            rng <= x;
            // producer: a presented beat is held until taken; otherwise maybe present the next
            if (!i_valid || i_ready) begin
                if (sent < n && {16'd0, x[15:0]} >= p_in) begin
                    code = $fscanf(fin, "%h\n", vec);
                    if (code != 1) error[3] <= 1'b1;
                    i_payload <= vec;
                    i_valid <= 1'b1;
                end else begin
                    i_valid <= 1'b0;
                end
            end
            o_ready <= {16'd0, x[31:16]} >= p_out;
            if (recv >= nout) begin
                o_ready <= 1'b1;
                if (drained >= drain) begin
                    done <= 1'b1;
                    o_ready <= 1'b0;
                    $fflush(fout);
                end
                drained = drained + 1;
            end
        end
    end
endmodule
